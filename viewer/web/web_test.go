package web

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var (
	wasm  = bytes.Repeat([]byte("\x00asm\x01\x00\x00\x00"), 200)
	appJS = []byte(strings.Repeat("console.log('peercam');\n", 100))
)

func testFiles(t *testing.T, built bool) fstest.MapFS {
	m := fstest.MapFS{
		"index.html":      {Data: []byte("<!doctype html><title>Peercam</title>")},
		"app.js":          {Data: appJS},
		"sw.js":           {Data: []byte("const VERSION = '__VERSION__';")},
		"icons/a.png":     {Data: []byte("\x89PNG")},
		"wasm_exec.js":    {Data: []byte("// Go")},
		"peercam.wasm.gz": {Data: gz(t, wasm)},
	}
	if !built {
		delete(m, "wasm_exec.js")
		delete(m, "peercam.wasm.gz")
	}
	return m
}

func get(t *testing.T, h http.Handler, path string, hdr ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, r *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func unzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestServesTheApp(t *testing.T) {
	h, err := Handler(Config{Rendezvous: "ws://127.0.0.1:9", Files: testFiles(t, true)})
	if err != nil {
		t.Fatal(err)
	}
	r := get(t, h, "/")
	if r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || !bytes.Contains(body(t, r), []byte("<title>Peercam")) {
		t.Fatalf("GET /: %d %v", r.StatusCode, r.Header)
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "'wasm-unsafe-eval'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("CSP %q", csp)
	}
	if r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatal("no nosniff")
	}

	// The WebAssembly is stored compressed and sent as it is.
	r = get(t, h, "/peercam.wasm", "Accept-Encoding", "br, gzip")
	b := body(t, r)
	if r.Header.Get("Content-Encoding") != "gzip" || r.Header.Get("Content-Type") != "application/wasm" || !bytes.Equal(unzip(t, b), wasm) {
		t.Fatalf("wasm with gzip: %v, %d bytes", r.Header, len(b))
	}
	if !strings.Contains(r.Header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("no Vary: %v", r.Header)
	}
	// A client without gzip gets it unpacked.
	r = get(t, h, "/peercam.wasm", "Accept-Encoding", "identity")
	if r.Header.Get("Content-Encoding") != "" || !bytes.Equal(body(t, r), wasm) {
		t.Fatalf("wasm without gzip: %v", r.Header)
	}
	r = get(t, h, "/peercam.wasm", "Accept-Encoding", "gzip;q=0")
	if r.Header.Get("Content-Encoding") != "" {
		t.Fatalf("gzip;q=0 still got gzip")
	}

	// Text is compressed too, and revalidates with its ETag.
	r = get(t, h, "/app.js", "Accept-Encoding", "gzip")
	if r.Header.Get("Content-Encoding") != "gzip" || !bytes.Equal(unzip(t, body(t, r)), appJS) {
		t.Fatalf("app.js: %v", r.Header)
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("app.js type %q", r.Header.Get("Content-Type"))
	}
	etag := r.Header.Get("ETag")
	if r = get(t, h, "/app.js", "Accept-Encoding", "gzip", "If-None-Match", etag); r.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation with %s: %d", etag, r.StatusCode)
	}

	// The service worker caches under the build's version.
	var cfg struct {
		Rendezvous, Version string
		Built               bool
	}
	r = get(t, h, "/config.json")
	if err := json.Unmarshal(body(t, r), &cfg); err != nil || cfg.Rendezvous != "ws://127.0.0.1:9" || !cfg.Built || cfg.Version == "" {
		t.Fatalf("config.json: %+v %v", cfg, err)
	}
	if sw := string(body(t, get(t, h, "/sw.js"))); sw != "const VERSION = '"+cfg.Version+"';" {
		t.Fatalf("sw.js: %q, version %s", sw, cfg.Version)
	}

	if r = get(t, h, "/nothing.js"); r.StatusCode != http.StatusNotFound {
		t.Fatalf("missing file: %d", r.StatusCode)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", rec.Code)
	}
}

// TestVersionFollowsTheFiles: a change to any file is a new version.
func TestVersionFollowsTheFiles(t *testing.T) {
	version := func(files fs.FS) string {
		h, err := Handler(Config{Files: files})
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct{ Version string }
		json.Unmarshal(body(t, get(t, h, "/config.json")), &cfg)
		return cfg.Version
	}
	a := testFiles(t, true)
	b := testFiles(t, true)
	b["app.js"] = &fstest.MapFile{Data: append([]byte("//\n"), appJS...)}
	if va, vb := version(a), version(b); va == vb || !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(va) {
		t.Fatalf("versions %q and %q", va, vb)
	}
}

func TestNotBuilt(t *testing.T) {
	files := testFiles(t, false)
	if Built(files) {
		t.Fatal("Built without the WebAssembly")
	}
	h, err := Handler(Config{Files: files})
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct{ Built bool }
	if err := json.Unmarshal(body(t, get(t, h, "/config.json")), &cfg); err != nil || cfg.Built {
		t.Fatalf("config.json says built: %v", err)
	}
	if _, err := Handler(Config{Files: fstest.MapFS{"app.js": {Data: appJS}}}); err == nil {
		t.Fatal("a handler without index.html")
	}
}

// TestShippedFiles: the embedded app is whole: everything the page, the
// manifest and the service worker name is there (the generated files once
// make web has run).
func TestShippedFiles(t *testing.T) {
	files := Static()
	exists := func(name string) bool {
		_, err := fs.Stat(files, name)
		if err != nil {
			_, err = fs.Stat(files, name+".gz")
		}
		return err == nil
	}
	generated := func(name string) bool {
		for _, g := range Generated {
			if strings.TrimSuffix(g, ".gz") == name {
				return true
			}
		}
		return false
	}
	check := func(from, name string) {
		if name == "" || name == "./" || strings.Contains(name, ":") {
			return
		}
		if !exists(name) && !(generated(name) && !Built(files)) {
			t.Errorf("%s names %s, which is not in static/", from, name)
		}
	}
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"#]+)"`).FindAllSubmatch(index, -1) {
		check("index.html", string(m[1]))
	}
	var manifest struct {
		Name  string `json:"name"`
		Icons []struct {
			Src, Sizes string
		} `json:"icons"`
	}
	mb, err := fs.ReadFile(files, "manifest.webmanifest")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(mb, &manifest); err != nil || manifest.Name == "" || len(manifest.Icons) < 2 {
		t.Fatalf("manifest: %+v %v", manifest, err)
	}
	for _, ic := range manifest.Icons {
		check("manifest.webmanifest", ic.Src)
	}
	sw, err := fs.ReadFile(files, "sw.js")
	if err != nil {
		t.Fatal(err)
	}
	shell := regexp.MustCompile(`(?s)const SHELL = \[(.*?)\];`).FindSubmatch(sw)
	if shell == nil {
		t.Fatal("sw.js has no SHELL list")
	}
	for _, m := range regexp.MustCompile(`'([^']+)'`).FindAllSubmatch(shell[1], -1) {
		check("sw.js", string(m[1]))
	}
	// Every module the scripts import is cached by the service worker.
	for _, js := range []string{"app.js", "login.js", "engine.js"} {
		b, err := fs.ReadFile(files, js)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`from '\./([^']+)'|new Worker\('([^']+)'\)`).FindAllSubmatch(b, -1) {
			name := string(m[1]) + string(m[2])
			check(js, name)
			if !bytes.Contains(shell[1], []byte("'"+name+"'")) {
				t.Errorf("sw.js does not cache %s, which %s loads", name, js)
			}
		}
	}
}
