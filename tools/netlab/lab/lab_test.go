//go:build nattest

// The NAT lab with real kernel NAT: root only, run by make test-nat.

package lab

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// needRoot skips a test that builds namespaces when not root, except in CI,
// where the lab must run.
func needRoot(t *testing.T) {
	t.Helper()
	if err := checkTools(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the NAT lab cannot run in CI: %v", err)
		}
		t.Skipf("skipping the NAT lab: %v (run as root with iproute2 and nftables: sudo make test-nat)", err)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// networkLab builds a lab without processes and removes it after the test.
func networkLab(t *testing.T, a, b NAT, wan string) *Lab {
	t.Helper()
	l, err := Start(context.Background(), Config{Dir: t.TempDir(), A: a, B: b, WAN: wan, NetworkOnly: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		assertGone(t, l.Prefix())
	})
	return l
}

func namespaces(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

func assertGone(t *testing.T, prefix string) {
	t.Helper()
	for _, n := range namespaces(t) {
		if strings.HasPrefix(n, prefix+"-") {
			t.Errorf("namespace %s outlived its lab", n)
		}
	}
}

func wanKinds(t *testing.T) []string {
	kinds := []string{WANTUN}
	ns := fmt.Sprintf("%s%d-0-probe", NamePrefix, os.Getpid())
	if err := exec.Command("ip", "netns", "add", ns).Run(); err == nil {
		if netemWorks(context.Background(), ns) {
			kinds = append(kinds, WANVeth)
		} else {
			t.Log("this kernel has no sch_netem: veth links are tested without delay")
		}
		delNetns(ns)
	}
	return kinds
}

// TestRoundTrips: SetPath adds at least the round trip it claims, on each
// kind of WAN link, and the links carry traffic without it.
func TestRoundTrips(t *testing.T) {
	needRoot(t)
	for _, wan := range wanKinds(t) {
		t.Run(wan, func(t *testing.T) {
			l := networkLab(t, Cone, Cone, wan)
			base, err := l.RoundTrips(Cam, 5)
			if err != nil {
				t.Fatal(err)
			}
			const rtt = 40 * time.Millisecond
			if err := l.SetPath(context.Background(), rtt, 0); err != nil {
				t.Fatal(err)
			}
			// Camera to the public segment crosses one WAN link: rtt/2.
			got, err := l.RoundTrips(Cam, 5)
			if err != nil {
				t.Fatal(err)
			}
			if m := slices.Min(got); m < rtt/2 {
				t.Errorf("round trip %s through a link set to add %s each way", m, rtt/4)
			}
			t.Logf("%s: camera to the public segment: %v without delay, %v with %s added camera-viewer round trip", wan, base, got, rtt)
		})
	}
}

// TestRouters: each router maps as its NAT type says (checked with STUN
// against two server ports) and drops what nobody behind it asked for.
func TestRouters(t *testing.T) {
	needRoot(t)
	bin := binaries(t)
	l, err := Start(context.Background(), Config{Bin: bin, Dir: t.TempDir(), A: Cone, B: Symmetric, WAN: WANVeth, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, side := range []struct {
		role string
		want NAT
	}{{Cam, Cone}, {Viewer, Symmetric}} {
		m, err := l.Probe(side.role)
		if err != nil {
			t.Fatal(err)
		}
		if m.Behaviour() != side.want {
			t.Errorf("%s: maps like %s (%+v), want %s", side.role, m.Behaviour(), m, side.want)
		}
		if side.want == Cone && !m.PortPreserved() {
			t.Errorf("%s: cone router does not preserve the port: %+v", side.role, m)
		}
		f, err := l.CheckFiltering(side.role)
		if err != nil {
			t.Fatal(err)
		}
		if f.Unsolicited || !f.Reply {
			t.Errorf("%s: filtering %+v, want unsolicited dropped and reply passed", side.role, f)
		}
		t.Logf("%s: %s mapping %+v, filtering %+v", side.role, m.Behaviour(), m, f)
	}
}

// TestTwoLabsAtOnce: two labs in one process get their own names and do
// not disturb each other.
func TestTwoLabsAtOnce(t *testing.T) {
	needRoot(t)
	var wg sync.WaitGroup
	labs := make([]*Lab, 2)
	errs := make([]error, 2)
	for i := range labs {
		wg.Go(func() {
			labs[i], errs[i] = Start(context.Background(), Config{Dir: t.TempDir(), NetworkOnly: true, WAN: WANTUN})
		})
	}
	wg.Wait()
	for i, l := range labs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		defer func() {
			l.Close()
			assertGone(t, l.Prefix())
		}()
	}
	if labs[0].Prefix() == labs[1].Prefix() {
		t.Fatalf("two labs share the prefix %s", labs[0].Prefix())
	}
	for _, l := range labs {
		if _, err := l.RoundTrips(Viewer, 2); err != nil {
			t.Errorf("%s: %v", l.Prefix(), err)
		}
	}
}

// TestClean removes the namespaces of a lab whose process is gone, and
// only those (unless all).
func TestClean(t *testing.T) {
	needRoot(t)
	// A process id that is not running: a child that has exited.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := fmt.Sprintf("%s%d-1-pub", NamePrefix, cmd.Process.Pid)
	live := fmt.Sprintf("%s%d-999-pub", NamePrefix, os.Getpid())
	other := fmt.Sprintf("peercam-test-%d", os.Getpid())
	for _, n := range []string{dead, live, other} {
		if err := exec.Command("ip", "netns", "add", n).Run(); err != nil {
			t.Fatal(err)
		}
		defer exec.Command("ip", "netns", "del", n).Run()
	}
	removed, err := Clean(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(removed, dead) || slices.Contains(removed, live) || slices.Contains(removed, other) {
		t.Errorf("Clean removed %v; want %s and neither %s nor %s", removed, dead, live, other)
	}
	names := namespaces(t)
	if slices.Contains(names, dead) || !slices.Contains(names, live) || !slices.Contains(names, other) {
		t.Errorf("after Clean: %v", names)
	}
	removed, err = Clean(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(removed, live) || slices.Contains(removed, other) {
		t.Errorf("Clean(all) removed %v; want %s and not %s", removed, live, other)
	}
}

// TestMatrix is the NAT matrix through real kernel NAT with the real
// binaries, judged by camview's -json line and ffmpeg.
func TestMatrix(t *testing.T) {
	needRoot(t)
	bin := binaries(t)
	for _, c := range Matrix {
		t.Run(strings.NewReplacer("/", "-", ",", "", ":", "", " ", "_").Replace(c.Name), func(t *testing.T) {
			o, err := RunCase(context.Background(), Config{Bin: bin, Dir: t.TempDir(), WAN: WANVeth, Logger: testLogger(t)}, c, WatchOptions{Frames: 60})
			if err != nil {
				t.Fatal(err)
			}
			r := o.Result
			t.Logf("%s: want %s; got path %q (%s/%s), candidates camera %v viewer %v, ttff %.0f ms, %d frames decoded, exit %d after %s, error %q; mapping A %+v B %+v",
				c.Name, c.Want, r.Path, r.Local, r.Remote, r.RemoteCandidates, r.LocalCandidates, r.TTFFMS, r.Decoded,
				r.ExitCode, r.Elapsed.Round(time.Millisecond), r.Error, o.MappingA, o.MappingB)
			for _, p := range o.Problems {
				t.Error(p)
			}
			if t.Failed() {
				t.Logf("camview stderr:\n%s\ncamd:\n%s", r.Stderr, tail(o.CamdLog, 20000))
			}
		})
	}
}

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// binaries builds the four binaries once for the package's tests.
func binaries(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "netlab-bin-")
		if binErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+"/",
			"./firmware/cmd/camd", "./viewer/cmd/camview", "./rendezvous/cmd/rendezvousd", "./tools/camctl")
		cmd.Dir = "../../.."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}
