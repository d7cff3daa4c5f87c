package record

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peercam/peercam/firmware/media"
)

// padded returns the test video with each frame grown by filler NAL units
// (type 12, which decoders skip) to reach about bitrate bits per second:
// the disk sees the sizes of a real 720p stream without encoding one.
func padded(t testing.TB, bitrate int) []media.Frame {
	frames := patternFrames(t)
	var total int
	for _, f := range frames {
		total += len(f.Data)
	}
	perFrame := bitrate / 8 / patternFPS
	extra := max(0, perFrame-total/len(frames))
	out := make([]media.Frame, len(frames))
	for i, f := range frames {
		n := extra
		if f.Keyframe {
			n *= 4 // keyframes are bigger
		}
		d := make([]byte, 0, len(f.Data)+n+6)
		d = append(d, f.Data...)
		if n > 0 {
			d = append(d, 0, 0, 0, 1, 12)
			for range n {
				d = append(d, 0xff)
			}
			d = append(d, 0x80)
		}
		out[i] = f
		out[i].Data = d
	}
	return out
}

// BenchmarkRecord measures the recorder's cost per frame (ns, bytes of
// video per second of CPU, allocations), fsync included, on the test's
// temporary directory. Real time is 30 frames a second.
func BenchmarkRecord(b *testing.B) {
	for _, rate := range []int{165_000, 2_000_000} {
		b.Run(fmt.Sprintf("%dkbps", rate/1000), func(b *testing.B) {
			frames := padded(b, rate)
			g := &videoGen{frames: frames, start: t0}
			r, err := New(Config{Dir: b.TempDir(), QueueLength: 64})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			var size int64
			for _, f := range frames {
				size += int64(len(f.Data))
			}
			b.SetBytes(size / int64(len(frames)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				r.Write(g.next())
				if i%32 == 31 {
					r.sync()
				}
			}
			r.flushNow()
			b.StopTimer()
			st := r.Status()
			if st.Dropped > 0 {
				b.Fatalf("dropped %d frames", st.Dropped)
			}
		})
	}
}

// BenchmarkOpenSeek measures opening a 60 s segment (60 fragments) at a
// time offset: scan, seek to the keyframe at or before 37.5 s, read the
// first frame. This is the recorder's share of "play" to first frame.
func BenchmarkOpenSeek(b *testing.B) {
	dir := b.TempDir()
	r, err := New(Config{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	g := newVideo(b, t0)
	feed(b, r, g, 61*patternFPS)
	r.Close()
	segs := listDirB(b, dir)
	p := filepath.Join(dir, segs[0].File)
	b.ResetTimer()
	for range b.N {
		sr, err := OpenSegment(p, segs[0].Start)
		if err != nil {
			b.Fatal(err)
		}
		at, err := sr.Seek(t0.Add(37500 * time.Millisecond))
		if err != nil || !at.Equal(t0.Add(37*time.Second)) {
			b.Fatalf("Seek: %v %v", at, err)
		}
		if _, err := sr.ReadFrame(); err != nil {
			b.Fatal(err)
		}
		sr.Close()
	}
}

func listDirB(b *testing.B, dir string) []Segment {
	x, err := openIndex(dir, testLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	defer x.close()
	segs, _ := x.list(time.Time{}, time.Time{})
	return segs
}

// TestFigures records two minutes of video at two bit rates as fast as the
// disk allows and prints the figures for the closing note: CPU per second
// of video, heap, write amplification (the recorder's own, and what the
// kernel counts as written for this process, page rewrites included).
// Figures only: it asserts nothing but that recording worked.
func TestFigures(t *testing.T) {
	if testing.Short() {
		t.Skip("figures only")
	}
	for _, rate := range []int{165_000, 2_000_000} {
		frames := padded(t, rate)
		g := &videoGen{frames: frames, start: t0}
		const seconds = 120
		dir := t.TempDir()
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		io0 := procWriteBytes(t)
		cpu0 := cpuTime()
		wall := time.Now()
		r, err := New(Config{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		feed(t, r, g, seconds*patternFPS)
		runtime.ReadMemStats(&m1)
		r.Close()
		cpu := cpuTime() - cpu0
		elapsed := time.Since(wall)
		syscall.Sync()
		io := procWriteBytes(t) - io0
		st := r.Status()
		if st.Written != seconds*patternFPS {
			t.Fatalf("written %d frames", st.Written)
		}
		var onDisk int64
		filepath.Walk(dir, func(_ string, fi os.FileInfo, _ error) error {
			if fi != nil && !fi.IsDir() {
				onDisk += fi.Size()
			}
			return nil
		})
		t.Logf("%4d kbit/s, %d s of video in %v: CPU %.2f%% of one core at real time (%v per second of video); "+
			"allocated %.1f KiB per frame (%d allocs/frame)",
			rate/1000, seconds, elapsed.Round(time.Millisecond), 100*cpu.Seconds()/seconds, (cpu / seconds).Round(time.Microsecond),
			float64(m1.TotalAlloc-m0.TotalAlloc)/1024/float64(st.Frames), (m1.Mallocs-m0.Mallocs)/st.Frames)
		t.Logf("     video %d B; segment files %d B (+%.2f%% MP4 boxes); index %d B; on disk %d B; "+
			"write amplification %.4f (recorder), %.3f (kernel write_bytes %d B, %d fragments with fdatasync)",
			st.VideoBytes, st.FileBytes, 100*float64(st.FileBytes-st.VideoBytes)/float64(st.VideoBytes),
			st.IndexBytes, onDisk, float64(st.FileBytes+st.IndexBytes)/float64(st.VideoBytes),
			float64(io)/float64(st.VideoBytes), io, st.Fragments)
	}
	// Memory of motion mode: the pre-roll ring at 2 Mbit/s, 5 s pre-roll,
	// 1 s GOP (a 4 s GOP holds up to 4 s more).
	r := newRecorder(t, Config{Dir: t.TempDir(), Mode: ModeMotion})
	g := &videoGen{frames: padded(t, 2_000_000), start: t0}
	feed(t, r, g, 20*patternFPS)
	r.sync() // the goroutine's writes to the ring happen before this returns
	ring := r.ring.bytes
	frames := len(r.ring.frames)
	t.Logf("motion mode pre-roll at 2 Mbit/s: %d frames, %d KiB held (shared with the live path)", frames, ring>>10)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procWriteBytes is what the kernel counts as written to storage for this
// process (/proc/self/io write_bytes); 0 where unknown.
func procWriteBytes(t *testing.T) int64 {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// TestFiguresDevice measures write amplification at the block device: an
// ext4 file system (as on a camera's SD card) on a loop device of its own,
// so the count (/sys/block/loopN/stat) holds the file system's journal and
// metadata too and nobody else's writes. Root only; figures only.
func TestFiguresDevice(t *testing.T) {
	if testing.Short() {
		t.Skip("figures only")
	}
	requireRoot(t)
	for _, tool := range []string{"mkfs.ext4", "losetup"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	for _, rate := range []int{165_000, 2_000_000} {
		img := filepath.Join(t.TempDir(), "card.img")
		if err := os.WriteFile(img, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(img, 256<<20); err != nil {
			t.Fatal(err)
		}
		run(t, "mkfs.ext4", "-q", "-F", img)
		out, err := exec.Command("losetup", "--find", "--show", img).Output()
		if err != nil {
			t.Skipf("no loop device: %v", err)
		}
		loop := strings.TrimSpace(string(out))
		mnt := t.TempDir()
		run(t, "mount", "-t", "ext4", loop, mnt)
		sectors := func() int64 {
			b, _ := os.ReadFile("/sys/block/" + filepath.Base(loop) + "/stat")
			f := strings.Fields(string(b))
			if len(f) < 7 {
				return 0
			}
			n, _ := strconv.ParseInt(f[6], 10, 64)
			return n
		}
		syscall.Sync()
		before := sectors()
		g := &videoGen{frames: padded(t, rate), start: t0}
		r, err := New(Config{Dir: filepath.Join(mnt, "rec")})
		if err != nil {
			t.Fatal(err)
		}
		const seconds = 300
		feed(t, r, g, seconds*patternFPS)
		r.Close()
		run(t, "umount", mnt)
		written := (sectors() - before) * 512
		run(t, "losetup", "-d", loop)
		st := r.Status()
		t.Logf("%4d kbit/s, %d s on ext4: video %d B, device writes %d B: write amplification %.3f "+
			"(%d fragments, each fdatasync'ed; %.1f KiB per fragment beyond the video)",
			rate/1000, seconds, st.VideoBytes, written, float64(written)/float64(st.VideoBytes), st.Fragments,
			float64(written-st.VideoBytes)/float64(st.Fragments)/1024)
	}
}
