package leaktest

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeT records what Check reports instead of failing the real test.
type fakeT struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
	errors   []string
}

func (f *fakeT) Helper()           {}
func (f *fakeT) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeT) Error(args ...any) {
	f.mu.Lock()
	f.errors = append(f.errors, args[0].(string))
	f.mu.Unlock()
}
func (f *fakeT) Errorf(string, ...any) { panic("unexpected Errorf") }

func (f *fakeT) finish() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func leakyWorker(stop chan struct{}) { <-stop }

func TestDetectsLeak(t *testing.T) {
	f := &fakeT{}
	CheckWith(f, Options{Timeout: 200 * time.Millisecond})
	stop := make(chan struct{})
	defer close(stop)
	go leakyWorker(stop)
	f.finish()
	if len(f.errors) != 1 {
		t.Fatalf("got %d reports, want 1", len(f.errors))
	}
	if !strings.Contains(f.errors[0], "leakyWorker") || !strings.Contains(f.errors[0], "1 goroutine(s) leaked") {
		t.Errorf("report does not name the leaked goroutine:\n%s", f.errors[0])
	}
}

func TestWaitsForExit(t *testing.T) {
	f := &fakeT{}
	Check(f)
	go func() { time.Sleep(100 * time.Millisecond) }()
	f.finish()
	if len(f.errors) != 0 {
		t.Errorf("a goroutine that exits soon was reported:\n%s", f.errors)
	}
}

func TestIgnoresEarlierGoroutinesAndIgnoreList(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	go leakyWorker(stop) // started before Check: not a leak of this test

	f := &fakeT{}
	CheckWith(f, Options{Timeout: 100 * time.Millisecond, Ignore: []string{"leaktest.ignoredWorker"}})
	go ignoredWorker(stop)
	t.Run("subtest", func(t *testing.T) {}) // testing's own goroutines
	f.finish()
	if len(f.errors) != 0 {
		t.Errorf("unexpected report:\n%s", f.errors)
	}
}

func ignoredWorker(stop chan struct{}) { <-stop }

func TestCheckPasses(t *testing.T) {
	Check(t)
	done := make(chan struct{})
	go func() { close(done) }()
	<-done
}
