package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peercam/peercam/viewer/web"
)

// syncBuffer is a bytes.Buffer safe to read while the command writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestWebFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"web", "-listen", "127.0.0.1:0", "-rendezvous", "http://127.0.0.1:1"}, nil, &out, &errOut)
	if code != exitUsage || !strings.Contains(errOut.String(), "ws://") {
		t.Fatalf("http:// rendezvous: exit %d, %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"web", "extra"}, nil, &out, &errOut); code != exitUsage {
		t.Fatalf("extra argument: exit %d, %q", code, errOut.String())
	}
}

// TestWebServes runs camview web on loopback and fetches the app. Without
// `make web` the command must refuse with a sentence that says so.
func TestWebServes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"web", "-listen", "127.0.0.1:0", "-rendezvous", "ws://127.0.0.1:9/"}, nil, &out, &errOut)
	}()
	if !web.Built(web.Static()) {
		code := <-done
		if code == 0 || !strings.Contains(errOut.String(), "make web") {
			t.Fatalf("not built: exit %d, %q", code, errOut.String())
		}
		t.Skip("the web viewer is not built (make web): checked the refusal only")
	}
	rx := regexp.MustCompile(`serving the web viewer on (http://127\.0\.0\.1:\d+/)`)
	var url string
	deadline := time.Now().Add(10 * time.Second)
	for url == "" {
		if m := rx.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no address printed: %q %q", out.String(), errOut.String())
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	resp, err := http.Get(url + "config.json")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Rendezvous string
		Built      bool
	}
	err = json.NewDecoder(resp.Body).Decode(&cfg)
	resp.Body.Close()
	if err != nil || cfg.Rendezvous != "ws://127.0.0.1:9/" || !cfg.Built {
		t.Fatalf("config.json: %+v, %v", cfg, err)
	}
	resp, err = http.Get(url + "peercam.wasm") // Go's client asks for gzip and unpacks it
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.HasPrefix(b, []byte("\x00asm")) {
		t.Fatalf("peercam.wasm: %d, %d bytes", resp.StatusCode, len(b))
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after the signal: %q", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("camview web did not stop")
	}
}
