package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// services are the five services in pipeline order.
var services = []string{"ingest", "hasher", "matcher", "review", "enforcer"}

// stack is the harness's own broker and redis-server (started through
// scripts/kafka.sh and scripts/redis.sh on private ports and a private data
// directory, so the test suite's broker on 19092 and Redis on 16379 are never
// touched) and the five service binaries, each its own process.
type stack struct {
	root    string // repository root (scripts/ lives there)
	data    string // TAKEDOWN_TEST_DATA of the scripts
	bin     string
	logs    string
	scrEnv  []string // the scripts' private ports and data dir
	brokers string
	redis   string
	ports   map[string]int
	svcEnv  []string // settings every service gets
	extra   map[string][]string

	mu    sync.Mutex
	procs map[string]*exec.Cmd
}

type ports struct{ kafka, kafkaController, kafkaSASL, redis, redisTLS, services int }

func newStack(root, data string, p ports) *stack {
	s := &stack{root: root, data: data, bin: filepath.Join(data, "bin"), logs: filepath.Join(data, "logs"),
		ports: map[string]int{}, extra: map[string][]string{}, procs: map[string]*exec.Cmd{}}
	s.scrEnv = []string{
		"TAKEDOWN_TEST_KAFKA_PORT=" + strconv.Itoa(p.kafka),
		"TAKEDOWN_TEST_KAFKA_CONTROLLER_PORT=" + strconv.Itoa(p.kafkaController),
		"TAKEDOWN_TEST_KAFKA_SASL_PORT=" + strconv.Itoa(p.kafkaSASL),
		"TAKEDOWN_TEST_REDIS_PORT=" + strconv.Itoa(p.redis),
		"TAKEDOWN_TEST_REDIS_TLS_PORT=" + strconv.Itoa(p.redisTLS),
		"TAKEDOWN_TEST_DATA=" + data,
	}
	s.brokers = "127.0.0.1:" + strconv.Itoa(p.kafka)
	s.redis = "127.0.0.1:" + strconv.Itoa(p.redis)
	for i, name := range services {
		s.ports[name] = p.services + i
	}
	return s
}

// script runs scripts/<name>.sh with the private ports.
func (s *stack) script(name, verb string) error {
	cmd := exec.Command(filepath.Join(s.root, "scripts", name+".sh"), verb)
	cmd.Env = append(cleanEnv(), s.scrEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("scripts/%s.sh %s: %w\n%s", name, verb, err, out)
	}
	return nil
}

// cleanEnv is the harness's environment without TAKEDOWN_* settings, which
// would otherwise leak into the scripts and the services.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TAKEDOWN_") {
			env = append(env, kv)
		}
	}
	return env
}

func portOpen(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// startInfra stops what an earlier run of the harness left on its ports,
// wipes the private data (a fresh broker and Redis each run) and starts both.
func (s *stack) startInfra() error {
	_ = s.script("kafka", "stop")
	_ = s.script("redis", "stop")
	for _, addr := range []string{s.brokers, s.redis} {
		if portOpen(addr) {
			return fmt.Errorf("%s is in use by something the harness did not start: choose other ports (-kafka-port, -redis-port)", addr)
		}
	}
	_ = os.RemoveAll(filepath.Join(s.data, "kafka", "data"))
	_ = os.Remove(filepath.Join(s.data, "redis", "dump.rdb"))
	_ = os.RemoveAll(s.logs) // each run's logs only
	if err := os.MkdirAll(s.logs, 0o755); err != nil {
		return err
	}
	if err := s.script("redis", "start"); err != nil {
		return err
	}
	return s.script("kafka", "start")
}

func (s *stack) stopInfra() {
	_ = s.script("kafka", "stop")
	_ = s.script("redis", "stop")
}

func pidFile(path, mustContain string) (int, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), mustContain) {
		return 0, fmt.Errorf("%s: pid %d is not %s", path, pid, mustContain)
	}
	return pid, nil
}

// brokerPID is the broker's java process (scripts/kafka.sh's pid file).
func (s *stack) brokerPID() (int, error) {
	return pidFile(filepath.Join(s.data, "kafka", "kafka.pid"), "kafka.Kafka")
}

// redisPID is redis-server's (its own pid file, as scripts/redis.sh configures it).
func (s *stack) redisPID() (int, error) {
	return pidFile(filepath.Join(s.data, "redis", "redis.pid"), "redis-server")
}

// build builds the five service binaries.
func (s *stack) build() error {
	if err := os.MkdirAll(s.bin, 0o755); err != nil {
		return err
	}
	for _, name := range services {
		cmd := exec.Command("go", "build", "-o", filepath.Join(s.bin, name), "github.com/takedown-pipeline/takedown/services/"+name)
		cmd.Dir = filepath.Join(s.root, "tests")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", name, err, out)
		}
	}
	return nil
}

func (s *stack) addr(name string) string { return "127.0.0.1:" + strconv.Itoa(s.ports[name]) }

// start starts one service (again) and waits for its /readyz.
func (s *stack) start(ctx context.Context, name string) error {
	logf, err := os.OpenFile(filepath.Join(s.logs, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "=== harness: start %s at %s\n", name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(filepath.Join(s.bin, name))
	cmd.Env = append(append(append(cleanEnv(), s.svcEnv...), s.extra[name]...), "TAKEDOWN_HTTP_ADDR="+s.addr(name))
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a Ctrl-C of the harness reaches the harness,
	// which stops the services gracefully.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	s.mu.Lock()
	s.procs[name] = cmd
	s.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, "http://"+s.addr(name)+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited before it was ready (log: %s)", name, logf.Name())
		case <-rctx.Done():
			return fmt.Errorf("%s not ready within 90 s (log: %s)", name, logf.Name())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *stack) pid(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.procs[name]; c != nil && c.Process != nil {
		return c.Process.Pid
	}
	return 0
}

// kill9 kills a service with SIGKILL and waits until it is gone.
func (s *stack) kill9(name string) error {
	s.mu.Lock()
	c := s.procs[name]
	s.mu.Unlock()
	if c == nil {
		return errors.New(name + " is not running")
	}
	if err := c.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	for i := 0; i < 100; i++ {
		if err := syscall.Kill(c.Process.Pid, 0); err != nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// stopServices stops every service gracefully (SIGTERM, 30 s, then SIGKILL).
func (s *stack) stopServices() {
	s.mu.Lock()
	defer s.mu.Unlock()
	var wg sync.WaitGroup
	for name, c := range s.procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.Process.Signal(syscall.SIGTERM)
			for i := 0; i < 300; i++ {
				if syscall.Kill(c.Process.Pid, 0) != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			fmt.Fprintf(os.Stderr, "pipelinebench: %s did not stop within 30 s; killing it\n", name)
			_ = c.Process.Signal(syscall.SIGKILL)
		}()
	}
	wg.Wait()
	s.procs = map[string]*exec.Cmd{}
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on every
// Linux platform Go runs on.
const clockTick = 100

// cpuTime reads utime+stime of pid from /proc/<pid>/stat.
func cpuTime(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	d, err := statCPU(raw)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return d, nil
}

// statCPU is utime+stime of a /proc stat line.
func statCPU(raw []byte) (time.Duration, error) {
	// The command name (field 2) may hold spaces: fields are counted from
	// after its closing parenthesis, where field 3 (state) starts.
	i := strings.LastIndexByte(string(raw), ')')
	if i < 0 {
		return 0, errors.New("no command name")
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields", len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	st, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * time.Second / clockTick, nil
}

// jitCPU is the CPU time of the JVM's JIT compiler threads of pid (named
// "C1 CompilerThread0", "C2 CompilerThread1", ...): a freshly started broker
// compiles for minutes, a cost of starting it and not of the uploads.
func jitCPU(pid int) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, t := range tasks {
		comm, err := os.ReadFile(filepath.Join(dir, t.Name(), "comm"))
		if err != nil || !strings.Contains(string(comm), "CompilerThre") {
			continue // a thread that ended meanwhile, or not a compiler
		}
		raw, err := os.ReadFile(filepath.Join(dir, t.Name(), "stat"))
		if err != nil {
			continue
		}
		d, err := statCPU(raw)
		if err != nil {
			return 0, fmt.Errorf("%s/%s: %w", dir, t.Name(), err)
		}
		sum += d
	}
	return sum, nil
}

// processes are the ones whose CPU the bench reports, in table order:
// "broker" is the broker without its JIT compiler, "broker-jit" the
// compiler alone, "harness" this process (the uploading clients, the media
// host and the platform), which shares the cores but is not the pipeline.
var processes = append(append([]string{}, services...), "broker", "redis", "broker-jit", "harness")

// outsideTotal are the processes left out of the pipeline's total.
var outsideTotal = map[string]bool{"broker-jit": true, "harness": true}

// cpuSnapshot reads the CPU time of the five services, the broker and Redis.
func (s *stack) cpuSnapshot() (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	for _, name := range processes {
		var pid int
		var err error
		switch name {
		case "broker-jit":
			continue // with the broker
		case "harness":
			pid = os.Getpid()
		case "broker":
			pid, err = s.brokerPID()
		case "redis":
			pid, err = s.redisPID()
		default:
			pid = s.pid(name)
		}
		if err != nil {
			return nil, err
		}
		if out[name], err = cpuTime(pid); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if name == "broker" {
			jit, err := jitCPU(pid)
			if err != nil {
				return nil, fmt.Errorf("broker JIT: %w", err)
			}
			out[name] -= jit
			out["broker-jit"] = jit
		}
	}
	return out, nil
}

// waitJITQuiet waits, up to two minutes, until the broker's JIT compiler
// spends under a twentieth of a core: a fresh JVM compiles for minutes, and
// a measurement taken meanwhile shares the cores with the compiler.
func (s *stack) waitJITQuiet(ctx context.Context) error {
	const window, quiet, most = 5 * time.Second, 250 * time.Millisecond, 2 * time.Minute
	pid, err := s.brokerPID()
	if err != nil {
		return err
	}
	start := time.Now()
	prev, err := jitCPU(pid)
	if err != nil {
		return err
	}
	for {
		select {
		case <-time.After(window):
		case <-ctx.Done():
			return ctx.Err()
		}
		now, err := jitCPU(pid)
		if err != nil {
			return err
		}
		if now-prev < quiet || time.Since(start) >= most {
			logf("broker JIT: %s CPU in the last %s, after waiting %s", now-prev, window, time.Since(start).Round(time.Second))
			return nil
		}
		prev = now
	}
}
