package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/peercam/peercam/rendezvous/wsconn"
	"github.com/peercam/peercam/viewer/web"
)

// cmdWeb serves the web viewer until ctx ends.
func cmdWeb(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("camview web", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve the web viewer on (host:port; port 0 picks a free one)")
	rendezvous := fs.String("rendezvous", "", "rendezvous URL the app offers by default, ws:// or wss:// (the person can change it in the app)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		return fail(stderr, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0)))
	}
	if *rendezvous != "" {
		if _, err := wsconn.Endpoint(*rendezvous, "view"); err != nil {
			return fail(stderr, fmt.Errorf("%w: %v", errUsage, err))
		}
	}
	if !web.Built(web.Static()) {
		return fail(stderr, web.ErrNotBuilt)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h, err := web.Handler(web.Config{Rendezvous: *rendezvous, Logger: log})
	if err != nil {
		return fail(stderr, err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fail(stderr, fmt.Errorf("cannot listen on %s: %w", *listen, err))
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	fmt.Fprintf(stdout, "camview: serving the web viewer on http://%s/\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fail(stderr, err)
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fail(stderr, err)
	}
	return 0
}
