package main

import (
	"context"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"fmt"
	"image"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/demo"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/mediahash"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
	"github.com/takedown-pipeline/takedown/pkg/matching/policy"
)

// picture is one upload's media.
type picture struct {
	Data   []byte
	Banked bool // an altered copy of a banked original: must be removed
}

// pool is the bank's originals (as bank updates) and the pictures uploads
// are drawn from, half altered copies and half unrelated scenes.
type pool struct {
	Adds     []events.BankUpdate
	Copies   []picture
	Unrelate []picture
}

// Picture size: 1152x864, about 1 MP.
const picW, picH = 1152, 864

// makePool generates originals banked originals, copies altered copies of
// them and as many unrelated scenes, every one checked as the pipeline would
// decide it (mediahash.Hash, a bank of the originals, the default policy):
// copies must be removed, unrelated scenes must match nothing.
func loadPool(ctx context.Context, dir string, seed uint64, originals, copies int) (*pool, error) {
	// The bank entries in a kept pool hold hashes the hashing code of the
	// time made: after a change to it (PDQ at the decoded size, issue 15)
	// uploads hash a few bits away and copies checked as removals land in
	// review. The pool is keyed by what today's code makes of its first
	// scene, so such a change makes a new one.
	fp, err := hashingFingerprint(ctx, seed)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, fmt.Sprintf("pool-%d-%d-%d-%dx%d-%s.gob", seed, originals, copies, picW, picH, fp))
	if f, err := os.Open(path); err == nil {
		defer f.Close()
		var p pool
		if err := gob.NewDecoder(f).Decode(&p); err == nil && len(p.Adds) == originals && len(p.Copies) == copies {
			return &p, nil
		}
	}
	p, err := makePool(ctx, seed, originals, copies)
	if err != nil {
		return nil, err
	}
	// Generating and checking takes minutes on a busy machine: kept for the next run.
	if f, err := os.CreateTemp(dir, "pool-*.tmp"); err == nil {
		if gob.NewEncoder(f).Encode(p) == nil && f.Close() == nil {
			_ = os.Rename(f.Name(), path)
		}
		_ = os.Remove(f.Name())
	}
	return p, nil
}

// hashingFingerprint is a short digest of every signal today's code makes
// of the pool's first scene, for a bank and for an upload.
func hashingFingerprint(ctx context.Context, seed uint64) (string, error) {
	data := demo.JPEG(demo.Scene(seed, picW, picH), 90)
	h := sha256.New()
	for _, hash := range []func(context.Context, []byte, string, mediahash.Limits) (mediahash.Result, error){mediahash.HashForBank, mediahash.Hash} {
		res, err := hash(ctx, data, events.ContentImage, mediahash.Limits{})
		if err != nil {
			return "", err
		}
		for _, sg := range res.Signals {
			fmt.Fprintf(h, "%s %s %s\n", sg.Type, sg.Variant, sg.Value)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

func makePool(ctx context.Context, seed uint64, originals, copies int) (*pool, error) {
	p := &pool{}
	bases := make([]image.Image, originals)
	banks, err := bank.New(bank.Options{})
	if err != nil {
		return nil, err
	}
	next := seed
	for len(p.Adds) < originals {
		img := demo.Scene(next, picW, picH)
		next++
		data := demo.JPEG(img, 90)
		res, err := mediahash.HashForBank(ctx, data, events.ContentImage, mediahash.Limits{})
		if err != nil {
			return nil, err
		}
		if q := pdqQuality(res.Signals); q < 60 {
			continue // too smooth for PDQ: the matcher would not match its copies
		}
		u := events.NewBankAdd("bench-bank", []string{"category:terrorism", "source:pipelinebench"}, bank.Bankable(res.Signals))
		if err := banks.Apply(u); err != nil {
			return nil, err
		}
		bases[len(p.Adds)] = img
		p.Adds = append(p.Adds, u)
	}
	pol := policy.Default()
	decide := func(data []byte) (string, error) {
		res, err := mediahash.Hash(ctx, data, events.ContentImage, mediahash.Limits{})
		if err != nil {
			return "", err
		}
		return pol.Decide(banks.MatchVerdict(res.Signals).Matches).Action, nil
	}
	alter := []func(img image.Image, r *rand.Rand) []byte{
		func(img image.Image, _ *rand.Rand) []byte { return demo.JPEG(img, 40) },
		func(img image.Image, _ *rand.Rand) []byte { return demo.JPEG(demo.Brighten(img, 20), 80) },
		func(img image.Image, _ *rand.Rand) []byte { return demo.JPEG(demo.Grey(img), 85) },
		func(img image.Image, r *rand.Rand) []byte { return demo.JPEG(demo.CropRandom(img, 0.05, r), 85) },
		func(img image.Image, r *rand.Rand) []byte { return demo.JPEG(demo.Logo(img, r), 85) },
	}
	p.Copies = make([]picture, copies)
	p.Unrelate = make([]picture, copies)
	var failed atomic.Value
	var wg sync.WaitGroup
	work := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := p.makeOne(i, seed, bases, alter, decide); err != nil {
					failed.Store(err)
				}
			}
		}()
	}
	for i := range copies {
		work <- i
	}
	close(work)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *pool) makeOne(i int, seed uint64, bases []image.Image, alter []func(image.Image, *rand.Rand) []byte, decide func([]byte) (string, error)) error {
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	base := bases[i%len(bases)]
	for try := range len(alter) {
		data := alter[(i+try)%len(alter)](base, r)
		act, err := decide(data)
		if err != nil {
			return err
		}
		if act == policy.ActionRemove {
			p.Copies[i] = picture{Data: data, Banked: true}
			break
		}
	}
	if p.Copies[i].Data == nil {
		return fmt.Errorf("no alteration of original %d is removed by the default policy", i%len(bases))
	}
	for try := uint64(0); try < 20; try++ {
		data := demo.JPEG(demo.Scene(seed+1_000_000+uint64(i)*20+try, picW, picH), 85)
		act, err := decide(data)
		if err != nil {
			return err
		}
		if act == policy.ActionNone {
			p.Unrelate[i] = picture{Data: data}
			return nil
		}
	}
	return fmt.Errorf("every unrelated candidate %d matched the bank", i)
}

func pdqQuality(sigs []events.Signal) int {
	for _, s := range sigs {
		if s.Type == events.SignalPDQ && s.Variant == "" && s.Quality != nil {
			return *s.Quality
		}
	}
	return 0
}

// pick returns upload i's picture: even ones altered copies, odd ones unrelated.
func (p *pool) pick(i int) picture {
	if i%2 == 0 {
		return p.Copies[(i/2)%len(p.Copies)]
	}
	return p.Unrelate[(i/2)%len(p.Unrelate)]
}

// hashRate is the standalone hashing rate: mediahash.Hash (decode and every
// signal the hasher emits) over the pool's pictures in this process, with
// GOMAXPROCS goroutines, for at least d.
func (p *pool) hashRate(ctx context.Context, d time.Duration) (float64, int64, error) {
	var all [][]byte
	for i := range p.Copies {
		all = append(all, p.Copies[i].Data, p.Unrelate[i].Data)
	}
	var n atomic.Int64
	var failed atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for w := range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; time.Since(start) < d; i += runtime.GOMAXPROCS(0) {
				if _, err := mediahash.Hash(ctx, all[i%len(all)], events.ContentImage, mediahash.Limits{}); err != nil {
					failed.Store(err)
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return 0, 0, err
	}
	return float64(n.Load()) / time.Since(start).Seconds(), n.Load(), nil
}
