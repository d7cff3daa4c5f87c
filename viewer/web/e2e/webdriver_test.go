//go:build browser

package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// browser is one Chromium driven through chromedriver (W3C WebDriver).
type browser struct {
	t       *testing.T
	base    string // chromedriver's URL
	session string
	client  *http.Client
}

// newBrowser starts chromedriver and a headless Chromium with an empty
// profile. Both end with the test; the processes are reaped by group.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	need(t, "chromium", "chromedriver")
	addr := freePort(t)
	port := addr[strings.LastIndex(addr, ":")+1:]
	start := func() *proc {
		return startProc(t, "/usr/bin/chromedriver", "--port="+port, "--allowed-ips=127.0.0.1")
	}
	p := start()
	b := &browser{t: t, base: "http://" + addr, client: &http.Client{Timeout: 60 * time.Second}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var st struct {
			Ready bool `json:"ready"`
		}
		if err := b.call("GET", "/status", nil, &st); err == nil && st.Ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromedriver did not start: %s", p.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	profile := t.TempDir()
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{
			"binary": "/usr/bin/chromium",
			"args": []string{
				"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
				"--disable-background-networking", "--disable-component-update", "--disable-sync",
				"--autoplay-policy=no-user-gesture-required", "--user-data-dir=" + profile,
				"--window-size=1280,900", "--disable-dev-shm-usage",
				// The test's network namespace has only loopback: let
				// WebRTC use it, as a phone uses its Wi-Fi.
				"--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
			},
		},
		"timeouts": map[string]any{"script": 60000, "pageLoad": 30000, "implicit": 0},
	}}}
	var created struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call("POST", "/session", caps, &created); err != nil {
		t.Fatalf("start Chromium: %v\n%s", err, p.output())
	}
	b.session = created.SessionID
	t.Cleanup(func() {
		b.call("DELETE", "/session/"+b.session, nil, nil)
	})
	return b
}

// call does one WebDriver request and decodes its "value" into out.
func (b *browser) call(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		j, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("webdriver %s %s: %v: %.300s", method, path, err, raw)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		json.Unmarshal(env.Value, &e)
		return fmt.Errorf("webdriver %s %s: %s: %.500s", method, path, e.Error, e.Message)
	}
	if out != nil {
		return json.Unmarshal(env.Value, out)
	}
	return nil
}

func (b *browser) s(path string) string { return "/session/" + b.session + path }

func (b *browser) must(err error) {
	b.t.Helper()
	if err != nil {
		b.t.Fatal(err)
	}
}

func (b *browser) open(url string) {
	b.t.Helper()
	b.must(b.call("POST", b.s("/url"), map[string]any{"url": url}, nil))
}

func (b *browser) reload() {
	b.t.Helper()
	b.must(b.call("POST", b.s("/refresh"), map[string]any{}, nil))
}

// exec runs script (a function body) and decodes its return value.
func (b *browser) exec(out any, script string, args ...any) {
	b.t.Helper()
	if args == nil {
		args = []any{}
	}
	b.must(b.call("POST", b.s("/execute/sync"), map[string]any{"script": script, "args": args}, out))
}

// await runs an async script: its last argument is the callback.
func (b *browser) await(out any, script string, args ...any) {
	b.t.Helper()
	if args == nil {
		args = []any{}
	}
	b.must(b.call("POST", b.s("/execute/async"), map[string]any{"script": script, "args": args}, out))
}

const elementKey = "element-6066-11e4-a52e-4f735466cecf"

// find returns the element for a CSS selector, waiting up to 10 s for it.
func (b *browser) find(css string) string {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var el map[string]string
		err := b.call("POST", b.s("/element"), map[string]any{"using": "css selector", "value": css}, &el)
		if err == nil && el[elementKey] != "" {
			return el[elementKey]
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("no element %s: %v", css, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *browser) click(css string) {
	b.t.Helper()
	b.must(b.call("POST", b.s("/element/"+b.find(css)+"/click"), map[string]any{}, nil))
}

// typeInto types text into a field key by key, as a person would.
func (b *browser) typeInto(css, text string) {
	b.t.Helper()
	el := b.find(css)
	b.must(b.call("POST", b.s("/element/"+el+"/clear"), map[string]any{}, nil))
	b.must(b.call("POST", b.s("/element/"+el+"/value"), map[string]any{"text": text}, nil))
}

// press sends keys to the focused element ("\ue007" is Enter).
func (b *browser) press(keys string) {
	b.t.Helper()
	var actions []map[string]any
	for _, r := range keys {
		actions = append(actions, map[string]any{"type": "keyDown", "value": string(r)}, map[string]any{"type": "keyUp", "value": string(r)})
	}
	b.must(b.call("POST", b.s("/actions"), map[string]any{"actions": []any{map[string]any{"type": "key", "id": "kbd", "actions": actions}}}, nil))
	b.call("DELETE", b.s("/actions"), nil, nil)
}

func (b *browser) text(css string) string {
	b.t.Helper()
	var s string
	b.must(b.call("GET", b.s("/element/"+b.find(css)+"/text"), nil, &s))
	return s
}

// waitText waits until the element's text matches re and returns it.
func (b *browser) waitText(css, re string, d time.Duration) string {
	b.t.Helper()
	rx := regexp.MustCompile(re)
	var last string
	deadline := time.Now().Add(d)
	for {
		b.exec(&last, `const e = document.querySelector(arguments[0]); return e ? e.textContent : "";`, css)
		if rx.MatchString(last) {
			return last
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("waited %s for %s to read %q; it reads %q", d, css, re, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *browser) waitUntil(d time.Duration, what string, ok func() bool) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			b.t.Fatalf("waited %s for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// viewport sets the size of the page's viewport (the window is sized to
// fit it).
func (b *browser) viewport(w, h int, mobile bool, scale float64) {
	b.t.Helper()
	b.must(b.call("POST", b.s("/goog/cdp/execute"), map[string]any{"cmd": "Emulation.setDeviceMetricsOverride",
		"params": map[string]any{"width": w, "height": h, "deviceScaleFactor": scale, "mobile": mobile}}, nil))
}

// screenshot saves the page, or one element, as PNG in the artifacts and
// returns the bytes.
func (b *browser) screenshot(name, css string) []byte {
	b.t.Helper()
	var s string
	path := b.s("/screenshot")
	if css != "" {
		path = b.s("/element/" + b.find(css) + "/screenshot")
	}
	b.must(b.call("GET", path, nil, &s))
	png, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b.t.Fatal(err)
	}
	file := filepath.Join(artifacts, name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", file)
	return png
}

// logs returns the browser console's messages so far.
func (b *browser) logs() string {
	var entries []struct {
		Level   string `json:"level"`
		Message string `json:"message"`
	}
	if err := b.call("POST", b.s("/se/log"), map[string]any{"type": "browser"}, &entries); err != nil {
		return err.Error()
	}
	var sb strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&sb, "%s %s\n", e.Level, e.Message)
	}
	return sb.String()
}
