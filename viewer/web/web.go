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
	"sync"
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

// file is one file of the app, kept whole in memory, plain and (when it
// pays) gzip-compressed.
type file struct {
	gz    []byte // gzip-compressed; nil: serve plain only
	ctype string
	etag  string // of the content, the same for both encodings but marked

	plainOnce sync.Once
	plain     []byte // nil until needed when only gz was stored
	plainErr  error
}

func (f *file) plainBytes() ([]byte, error) {
	f.plainOnce.Do(func() {
		if f.plain != nil {
			return
		}
		zr, err := gzip.NewReader(bytes.NewReader(f.gz))
		if err != nil {
			f.plainErr = err
			return
		}
		f.plain, f.plainErr = io.ReadAll(zr)
	})
	return f.plain, f.plainErr
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
	raw := map[string][]byte{}
	err := fs.WalkDir(cfg.Files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(cfg.Files, p)
		raw[p] = b
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("web: read the app's files: %w", err)
	}
	if _, ok := raw["index.html"]; !ok {
		return nil, errors.New("web: the app's files have no index.html")
	}
	// The version is a digest of every file: the service worker caches the
	// app under it, so a new build replaces the cached one.
	names := make([]string, 0, len(raw))
	for n := range raw {
		names = append(names, n)
	}
	sort.Strings(names)
	all := sha256.New()
	for _, n := range names {
		fmt.Fprintf(all, "%s %x\n", n, sha256.Sum256(raw[n]))
	}
	version := hex.EncodeToString(all.Sum(nil)[:8])
	for _, n := range names {
		b := raw[n]
		name, stored := strings.CutSuffix(n, ".gz")
		f := &file{ctype: contentType(name)}
		if stored {
			f.gz = b
		} else {
			if name == "sw.js" {
				b = bytes.ReplaceAll(b, []byte("__VERSION__"), []byte(version))
			}
			f.plain = b
			if compressible(name) && len(b) > 512 {
				f.gz = compress(b)
			}
		}
		sum := sha256.Sum256(b)
		f.etag = hex.EncodeToString(sum[:12])
		h.files["/"+name] = f
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

func compressible(name string) bool {
	switch path.Ext(name) {
	case ".html", ".js", ".css", ".json", ".webmanifest", ".svg", ".txt", ".wasm":
		return true
	}
	return false
}

func compress(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
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
	var body []byte
	if f.gz != nil {
		hd.Add("Vary", "Accept-Encoding")
	}
	if f.gz != nil && acceptsGzip(r) {
		hd.Set("Content-Encoding", "gzip")
		hd.Set("ETag", `"`+f.etag+`-gz"`)
		body = f.gz
	} else {
		b, err := f.plainBytes()
		if err != nil {
			h.log.Error("web: a stored file does not decompress", "path", p, "err", err)
			http.Error(w, "damaged file", http.StatusInternalServerError)
			return
		}
		hd.Set("ETag", `"`+f.etag+`"`)
		body = b
	}
	http.ServeContent(w, r, "", h.start, bytes.NewReader(body))
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
