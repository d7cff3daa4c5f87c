// Command camd is the Peercam camera daemon: it captures and encodes video
// once, keeps the camera registered with the rendezvous, and streams to
// viewers who log in with the camera's password.
//
//	camd -config FILE [-state DIR] [-source testpattern|v4l2:/dev/videoN|rpicam|auto] [-rendezvous URL]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/peercam/peercam/configs"
	"github.com/peercam/peercam/firmware/agent"
	"github.com/peercam/peercam/firmware/auth"
	"github.com/peercam/peercam/firmware/camstatus"
	"github.com/peercam/peercam/firmware/hwctl"
	"github.com/peercam/peercam/firmware/playback"
	"github.com/peercam/peercam/firmware/record"
	"github.com/peercam/peercam/firmware/stream"
	"github.com/peercam/peercam/internal/qrterm"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "camd:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("camd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (default: built-in defaults, as in configs/camd.yaml)")
	state := fs.String("state", "", "state directory (overrides state_dir)")
	source := fs.String("source", "", "video source: testpattern, v4l2:/dev/videoN, rpicam or auto (overrides source)")
	rendezvous := fs.String("rendezvous", "", "rendezvous URL, ws:// or wss:// (overrides rendezvous)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := configs.LoadCamd(*configPath)
	if err != nil {
		return err
	}
	if *state != "" {
		cfg.StateDir = *state
	}
	if *source != "" {
		cfg.Source = *source
	}
	if *rendezvous != "" {
		cfg.Rendezvous = *rendezvous
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := newLogger(stderr, cfg.LogLevel)

	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	key, created, err := auth.LoadOrCreateKey(cfg.StateDir)
	if err != nil {
		return fmt.Errorf("device key: %w", err)
	}
	store, err := auth.OpenStore(auth.Config{Dir: cfg.StateDir, Key: key, Logger: log})
	if err != nil {
		return err
	}
	guard, err := auth.NewGuard(auth.Config{Dir: cfg.StateDir, Logger: log})
	if err != nil {
		return err
	}
	if err := announce(os.Stdout, store, created); err != nil {
		return err
	}
	motionEvents := &events{log: log.With("part", "motion")}
	hw, stopHardware, err := startHardware(ctx, cfg, store, log, stderr, motionEvents.pir)
	if err != nil {
		return err
	}
	defer stopHardware()

	src, err := openSource(cfg, log)
	if err != nil {
		return err
	}
	api, err := newAPI(cfg)
	if err != nil {
		return err
	}
	video, err := stream.New(stream.Config{Source: src, Logger: log})
	if err != nil {
		return err
	}
	defer video.Close()
	// Recordings, events and status go to logged-in viewers over their
	// data channel (firmware/playback), never through the rendezvous.
	var recordings playback.Recordings
	var recorder *record.Recorder
	var player atomic.Pointer[playback.Server]
	status := &statusFile{dir: cfg.StateDir, log: log, hw: hw}
	if cfg.Recording.Mode != "off" {
		rec, stopRecording, err := startRecording(cfg, video, log, func(st record.Status) {
			if p := player.Load(); p != nil {
				p.PublishStatus(st)
			}
			status.setRecording(st)
		})
		if err != nil {
			return err
		}
		defer stopRecording()
		recordings, recorder = rec, rec
	}
	pbsrv, err := playback.New(playback.Config{Recordings: recordings, Logger: log})
	if err != nil {
		return err
	}
	player.Store(pbsrv)
	defer pbsrv.Close()
	if cfg.Motion.Enabled {
		motionEvents.set(recorder, pbsrv)
		stopMotion, err := startMotion(cfg, src, motionEvents, hw, log.With("part", "motion"))
		if err != nil {
			return err
		}
		defer stopMotion()
	}

	a, err := agent.New(agent.Config{
		Rendezvous: cfg.Rendezvous,
		Key:        key,
		Store:      store,
		Guard:      guard,
		Video:      video,
		Relay:      cfg.Relay,
		MaxViewers: cfg.MaxViewers,
		API:        api,
		Logger:     log,
		OnDataChannel: func(c agent.Channel) {
			pbsrv.Serve(c.DC, c.PC, c.Logger)
		},
		OnStatus: func(s agent.Status) {
			s.Source = src.Info().Name
			s.PID = os.Getpid()
			status.setAgent(s)
		},
	})
	if err != nil {
		return err
	}
	log.Info("camd starting", "id", a.ID().String(), "source", src.Info().Name, "rendezvous", cfg.Rendezvous)
	err = a.Run(ctx)
	log.Info("camd stopped")
	return err
}

// announce prints the ID (and, while it is in force, the setup code) on
// standard output, apart from the logs on standard error: on first boot
// this is how the owner learns them. Under systemd, standard output goes to
// the journal and the console (configs/systemd/peercam-camd.service), the
// logs to the journal only.
func announce(w io.Writer, store *auth.Store, created bool) error {
	v, err := store.Current()
	if err != nil {
		return err
	}
	if v.Mode != auth.ModeSetup {
		return nil
	}
	code, err := store.SetupCode()
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintln(w, "New camera identity created.")
	}
	fmt.Fprintf(w, "Camera ID:  %s\nSetup code: %s\nSet a password with \"camctl passwd\", or from the viewer with the setup code.\n", store.ID(), code)
	return qrterm.Render(w, store.ID().String())
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// statusFile keeps the status file (camctl status) up to date with the
// agent's status and the recorder's.
type statusFile struct {
	dir string
	log *slog.Logger
	hw  *hwctl.Controller

	mu    sync.Mutex
	agent *agent.Status
	rec   *camstatus.Recording
}

func (f *statusFile) setAgent(s agent.Status) {
	f.mu.Lock()
	f.agent = &s
	f.writeLocked()
	f.mu.Unlock()
	if f.hw != nil {
		f.hw.SetStatus(s)
	}
}

func (f *statusFile) setRecording(st record.Status) {
	r := &camstatus.Recording{
		Mode: string(st.Mode), State: string(st.State), Segments: st.Segments, Events: st.Events,
		Bytes: st.Bytes, FreeBytes: st.FreeBytes,
	}
	if st.Err != nil {
		r.Error = st.Err.Error()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rec = r
	f.writeLocked()
}

func (f *statusFile) writeLocked() {
	if f.agent == nil {
		return // the agent reports first, when it starts
	}
	s := *f.agent
	s.Recording = f.rec
	if err := camstatus.Write(f.dir, s); err != nil {
		f.log.Warn("cannot write the status file", "err", err)
	}
}

// startRecording subscribes a recorder to the stream, like a viewer: the
// source then runs all the time. The returned function unsubscribes it and
// closes it (writing its last fragment). onStatus, if set, also gets the
// recorder's state changes (it must not block).
func startRecording(cfg *configs.Camd, video *stream.Broadcaster, log *slog.Logger, onStatus func(record.Status)) (*record.Recorder, func(), error) {
	rc := cfg.Recording
	rlog := log.With("part", "recording")
	rec, err := record.New(record.Config{
		Dir:             cfg.RecordingDir(),
		Mount:           rc.Mount,
		Mode:            record.Mode(rc.Mode),
		SegmentDuration: rc.Segment,
		MaxAge:          rc.MaxAge,
		MaxBytes:        int64(rc.MaxMB) << 20,
		MinFree:         int64(rc.MinFreeMB) << 20,
		RequestKeyFrame: video.RequestKeyFrame,
		Logger:          rlog,
		OnStatus: func(s record.Status) {
			if onStatus != nil {
				onStatus(s)
			}
			if s.State == record.StateError {
				rlog.Warn("recording stopped", "err", s.Err, "retry_at", s.RetryAt.Format(time.TimeOnly))
				return
			}
			rlog.Info("recording", "state", s.State, "segments", s.Segments, "bytes", s.Bytes)
		},
	})
	if err != nil {
		return nil, nil, err
	}
	unsubscribe := video.Subscribe(rec)
	return rec, func() {
		unsubscribe()
		rec.Close()
	}, nil
}
