// Package web is the Peercam web viewer: the files of the installable web
// app (static/, embedded) and the HTTP handler that serves them. The
// protocol runs in the browser as WebAssembly built from viewer/web/wasm;
// `make web` (go run ./viewer/web/mkweb) builds it into static/ as
// peercam.wasm.gz beside Go's wasm_exec.js. Those two files are not in the
// repository: without them Handler serves a page that says how to build
// them, and Built reports false.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"
)

//go:embed static
var embedded embed.FS

// Static returns the embedded files of the app, rooted at static/.
func Static() fs.FS {
	sub, err := fs.Sub(embedded, "static")
	if err != nil {
		panic(err) // static/ is always embedded
	}
	return sub
}

// Generated names the files `make web` adds to static/.
var Generated = []string{"peercam.wasm.gz", "wasm_exec.js"}

// Built reports whether files holds the built WebAssembly and its loader.
func Built(files fs.FS) bool {
	for _, name := range Generated {
		if _, err := fs.Stat(files, name); err != nil {
			return false
		}
	}
	return true
}

// Config of the handler. Every field may be zero.
type Config struct {
	// Rendezvous is the ws:// or wss:// URL the app offers by default; the
	// person can change it in the app's settings. Empty: none, the app asks.
	Rendezvous string
	// Files are the app's files; nil means Static().
	Files fs.FS
	// Logger (optional) receives one line per failed request.
	Logger *slog.Logger
}

type file struct {
	data    []byte // as stored (gzip-compressed when gzipped)
	gzipped bool
	etag    string
	ctype   string
}

type handler struct {
	files  map[string]*file
	config []byte
	log    *slog.Logger
	start  time.Time
}

// ErrNotBuilt: the WebAssembly part of the app is missing.
var ErrNotBuilt = errors.New("the web viewer is not built: run make web (or make build)")

// Handler serves the app. It reads every file once, up front.
func Handler(cfg Config) (http.Handler, error) {
	if cfg.Files == nil {
		cfg.Files = Static()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{files: map[string]*file{}, log: cfg.Logger, start: time.Now()}
	var names []string
	err := fs.WalkDir(cfg.Files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(cfg.Files, p)
		if err != nil {
			return err
		}
		name, gz := strings.CutSuffix(p, ".gz")
		f := &file{data: b, gzipped: gz, ctype: contentType(name)}
		h.files["/"+name] = f
		names = append(names, name)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: read the app's files: %w", err)
	}
	if _, ok := h.files["/index.html"]; !ok {
		return nil, errors.New("web: the app's files have no index.html")
	}
	// The version is a digest of every file: the service worker caches the
	// app under it, so a new build replaces the cached one.
	sort.Strings(names)
	all := sha256.New()
	for _, n := range names {
		f := h.files["/"+n]
		sum := sha256.Sum256(f.data)
		f.etag = `"` + hex.EncodeToString(sum[:12]) + `"`
		fmt.Fprintf(all, "%s %x\n", n, sum)
	}
	version := hex.EncodeToString(all.Sum(nil)[:8])
	if sw, ok := h.files["/sw.js"]; ok && !sw.gzipped {
		sw.data = bytes.ReplaceAll(sw.data, []byte("__VERSION__"), []byte(version))
	}
	built := Built(cfg.Files)
	h.config, err = json.Marshal(struct {
		Rendezvous string `json:"rendezvous"`
		Version    string `json:"version"`
		Built      bool   `json:"built"`
	}{cfg.Rendezvous, version, built})
	if err != nil {
		return nil, err
	}
	return h, nil
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".wasm":
		return "application/wasm"
	case ".webmanifest":
		return "application/manifest+json"
	case ".js":
		return "text/javascript; charset=utf-8"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// csp lets the page run its own scripts and WebAssembly, talk to any
// rendezvous (ws:, wss:) and show video and snapshots, and nothing else.
const csp = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self' ws: wss:; " +
	"img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self'; worker-src 'self'; " +
	"manifest-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Content-Security-Policy", csp)
	// Revalidate every time: the ETag makes that cheap, and the service
	// worker keeps the app for offline starts.
	hd.Set("Cache-Control", "no-cache")
	p := r.URL.Path
	if p == "/" {
		p = "/index.html"
	}
	if p == "/config.json" {
		hd.Set("Content-Type", "application/json")
		hd.Set("Cache-Control", "no-store")
		w.Write(h.config)
		return
	}
	f, ok := h.files[p]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd.Set("Content-Type", f.ctype)
	hd.Set("ETag", f.etag)
	var body io.ReadSeeker = bytes.NewReader(f.data)
	if f.gzipped {
		hd.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			hd.Set("Content-Encoding", "gzip")
		} else {
			zr, err := gzip.NewReader(bytes.NewReader(f.data))
			if err != nil {
				h.log.Error("web: stored file is not gzip", "path", p, "err", err)
				http.Error(w, "damaged file", http.StatusInternalServerError)
				return
			}
			plain, err := io.ReadAll(zr)
			if err != nil {
				http.Error(w, "damaged file", http.StatusInternalServerError)
				return
			}
			body = bytes.NewReader(plain)
			hd.Set("ETag", strings.TrimSuffix(f.etag, `"`)+`-plain"`)
		}
	}
	http.ServeContent(w, r, "", h.start, body)
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(strings.TrimSpace(q), " ", "") != "q=0" {
			return true
		}
	}
	return false
}
