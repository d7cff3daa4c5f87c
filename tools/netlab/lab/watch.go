package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// WatchOptions for one camview run. The zero value is 60 frames, a 20 s
// step timeout and the lab's shared key cache.
type WatchOptions struct {
	// Frames to receive; zero means 60.
	Frames int
	// Timeout is camview's -timeout; zero means 20 s.
	Timeout time.Duration
	// KeyCache is camview's -key-cache: "" is one file shared by the lab's
	// runs (the first derives the key with argon2id, later ones reuse it),
	// "none" derives every time.
	KeyCache string
	// Env is added to camview's environment (after the lab's Env).
	Env []string
	// Args are more camview watch flags, e.g. -trickle=false.
	Args []string
}

// Result is camview's -json line and what the lab saw of the run.
type Result struct {
	Path             string   `json:"path"`
	Local            string   `json:"local"`
	Remote           string   `json:"remote"`
	LocalCandidates  []string `json:"local_candidates"`
	RemoteCandidates []string `json:"remote_candidates"`
	TTFFMS           float64  `json:"ttff_ms"`
	LoginMS          float64  `json:"login_ms"`
	OpenMS           float64  `json:"open_ms"`
	GatherMS         float64  `json:"gather_ms"`
	AnswerMS         float64  `json:"answer_ms"`
	ICEMS            float64  `json:"ice_ms"`
	ConnectedMS      float64  `json:"connected_ms"`
	FirstDirectMS    float64  `json:"first_direct_ms"`
	FirstRelayMS     float64  `json:"first_relay_ms"`
	Frames           int      `json:"frames"`
	KeyCached        bool     `json:"key_cached"`
	Error            string   `json:"error"`

	// ExitCode is camview's exit status.
	ExitCode int `json:"-"`
	// Elapsed is camview's run time, start to exit.
	Elapsed time.Duration `json:"-"`
	// Decoded is the number of frames ffmpeg decoded from the video
	// written, or -1 when none was written. Decoding errors are in
	// DecodeError.
	Decoded     int    `json:"-"`
	DecodeError string `json:"-"`
	// Stderr is camview's standard error.
	Stderr string `json:"-"`
}

// Watch runs camview watch in the viewer's namespace until it exits and
// judges the video it wrote with ffprobe and ffmpeg.
func (l *Lab) Watch(ctx context.Context, o WatchOptions) (*Result, error) {
	if o.Frames == 0 {
		o.Frames = 60
	}
	if o.Timeout == 0 {
		o.Timeout = 20 * time.Second
	}
	n := l.runs.Add(1)
	dir := filepath.Join(l.cfg.Dir, fmt.Sprintf("watch-%d", n))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte(l.Password+"\n"), 0o600); err != nil {
		return nil, err
	}
	keys := o.KeyCache
	if keys == "" {
		keys = filepath.Join(l.cfg.Dir, "keys.json")
	}
	out := filepath.Join(dir, "video.h264")
	args := []string{"netns", "exec", l.NS(Viewer), filepath.Join(l.cfg.Bin, "camview"), "watch",
		"-id", l.CameraID, "-rendezvous", l.URL, "-password-file", pw,
		"-frames", strconv.Itoa(o.Frames), "-out", out, "-json", "-key-cache", keys,
		"-timeout", o.Timeout.String()}
	args = append(args, o.Args...)
	// Bounded: the step timeout covers login and first frame; frames
	// arrive at 30 a second.
	limit := 3*o.Timeout + time.Duration(o.Frames)*time.Second/10 + 10*time.Second
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(cctx, "ip", args...)
	cmd.Env = append(append(os.Environ(), l.cfg.Env...), o.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	begin := time.Now()
	err := cmd.Run()
	res := &Result{Elapsed: time.Since(begin), Stderr: stderr.String(), Decoded: -1}
	os.WriteFile(filepath.Join(dir, "camview.log"), append(stdout.Bytes(), stderr.Bytes()...), 0o600)
	if ee, ok := err.(*exec.ExitError); ok {
		res.ExitCode = ee.ExitCode()
	} else if err != nil {
		return nil, fmt.Errorf("lab: camview: %w", err)
	}
	if cctx.Err() != nil {
		return nil, fmt.Errorf("lab: camview did not exit within %s: %s", limit, tail(stderr.String(), 2000))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if jerr := json.Unmarshal([]byte(lines[len(lines)-1]), res); jerr != nil {
		return nil, fmt.Errorf("lab: camview (%v) printed no JSON line: stdout %q, stderr %q", cmd.ProcessState, tail(stdout.String(), 2000), tail(stderr.String(), 2000))
	}
	if _, err := os.Stat(out); err == nil {
		res.Decoded, res.DecodeError = decodedFrames(ctx, out)
	}
	return res, nil
}

// decodedFrames counts the frames ffprobe reads in an H.264 file and lets
// ffmpeg decode it all; any decoder complaint is returned.
func decodedFrames(ctx context.Context, path string) (int, string) {
	out, err := command(ctx, nil, "ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames,codec_name", "-of", "json", path)
	if err != nil {
		return 0, err.Error()
	}
	var probe struct {
		Streams []struct {
			Codec  string `json:"codec_name"`
			Frames string `json:"nb_read_frames"`
		} `json:"streams"`
	}
	if err := json.Unmarshal([]byte(out), &probe); err != nil || len(probe.Streams) != 1 {
		return 0, fmt.Sprintf("ffprobe: %v: %s", err, out)
	}
	if probe.Streams[0].Codec != "h264" {
		return 0, fmt.Sprintf("codec %q, want h264", probe.Streams[0].Codec)
	}
	n, _ := strconv.Atoi(probe.Streams[0].Frames)
	dec, err := command(ctx, nil, "ffmpeg", "-v", "error", "-i", path, "-f", "null", "-")
	if err != nil {
		return n, err.Error()
	}
	if s := strings.TrimSpace(dec); s != "" {
		return n, "ffmpeg: " + s
	}
	return n, ""
}
