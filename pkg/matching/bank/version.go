package bank

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"strconv"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

// Version is the XOR of one fingerprint per enabled entry, per bank whose
// configuration differs from the default, and of the options. XOR makes it
// independent of the order updates arrived in, and lets an update take its
// old fingerprint out in O(1). Every fingerprint starts with its own domain
// string and length-prefixes its fields, so no two different things encode
// alike.

type fingerprinter struct{ h hash.Hash }

func newFingerprinter(domain string) fingerprinter {
	f := fingerprinter{sha256.New()}
	f.put(domain)
	return f
}

func (f fingerprinter) put(s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	f.h.Write(n[:])
	f.h.Write([]byte(s))
}

func (f fingerprinter) sum() uint64 { return binary.BigEndian.Uint64(f.h.Sum(nil)) }

// entryFingerprint hashes everything about an enabled entry that shows in a
// verdict. labels and sigs are normalised (sorted, de-duplicated).
func entryFingerprint(bank, id string, labels []string, sigs []events.Signal) uint64 {
	f := newFingerprinter("entry")
	f.put(bank)
	f.put(id)
	f.put(strconv.Itoa(len(labels)))
	for _, l := range labels {
		f.put(l)
	}
	for _, s := range sigs {
		f.put(s.Type)
		f.put(s.Value)
		if s.Variant != "" {
			// Only a video frame's time is kept (frameVariant); it shows in
			// a video match's ranges. Entries without one fingerprint as
			// before video entries existed.
			f.put("variant=" + s.Variant)
		}
	}
	return f.sum()
}

// configFingerprint hashes a normalised bank configuration.
func configFingerprint(bank string, c *events.BankConfig) uint64 {
	f := newFingerprinter("config")
	f.put(bank)
	f.put(strconv.FormatBool(c.Enabled))
	f.put(c.Kind)
	f.put(strconv.Itoa(len(c.Labels)))
	for _, l := range c.Labels {
		f.put(l)
	}
	for _, s := range c.Signals {
		f.put(s.Type)
		f.put(strconv.FormatBool(s.Enabled))
		f.put(strconv.Itoa(s.Threshold))
	}
	// Matches carry these, so a change must change the version too.
	f.put("incident=" + strconv.FormatBool(c.Incident))
	f.put("severity=" + c.Severity)
	if c.VideoQueryPercent != 0 || c.VideoReferencePercent != 0 {
		// Written only when set, so the fingerprints of banks configured
		// before video matching existed do not move.
		f.put("video=" + strconv.Itoa(c.VideoQueryPercent) + "/" + strconv.Itoa(c.VideoReferencePercent))
	}
	return f.sum()
}

func optionsFingerprint(defaults [numTypes]int, on [numTypes]bool, minQuality, lowQuality, lowThr int) uint64 {
	f := newFingerprinter("options")
	for t, v := range defaults {
		f.put(typeNames[t] + "=" + strconv.Itoa(v))
		f.put(typeNames[t] + " on=" + strconv.FormatBool(on[t]))
	}
	f.put("min-pdq-quality=" + strconv.Itoa(minQuality))
	f.put("low-pdq-quality=" + strconv.Itoa(lowQuality))
	f.put("low-pdq-threshold=" + strconv.Itoa(lowThr))
	return f.sum()
}
