// Command mkweb builds the generated files of the web viewer into
// viewer/web/static: the WebAssembly protocol engine (GOOS=js GOARCH=wasm
// build of viewer/web/wasm, stored gzip-compressed as peercam.wasm.gz, which
// the server sends as it is to browsers) and Go's wasm_exec.js from the
// same toolchain. With -icons it redraws the app's icons (committed).
//
//	go run ./viewer/web/mkweb [-dir viewer/web/static] [-icons]
//
// Run it from the module root (make web does).
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func main() {
	dir := flag.String("dir", "viewer/web/static", "where the app's files are")
	icons := flag.Bool("icons", false, "redraw the icons instead of building the WebAssembly")
	goCmd := flag.String("go", "go", "the go command")
	flag.Parse()
	var err error
	if *icons {
		err = drawIcons(*dir)
	} else {
		err = build(*goCmd, *dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkweb:", err)
		os.Exit(1)
	}
}

func build(goCmd, dir string) error {
	tmp, err := os.MkdirTemp("", "peercam-mkweb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	wasm := filepath.Join(tmp, "peercam.wasm")
	cmd := exec.Command(goCmd, "build", "-trimpath", "-ldflags=-s -w", "-o", wasm, "./viewer/web/wasm")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build the WebAssembly: %w", err)
	}
	raw, err := os.ReadFile(wasm)
	if err != nil {
		return err
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(raw)
	if err := zw.Close(); err != nil {
		return err
	}
	if err := writeIfChanged(filepath.Join(dir, "peercam.wasm.gz"), gz.Bytes()); err != nil {
		return err
	}
	out, err := exec.Command(goCmd, "env", "GOROOT").Output()
	if err != nil {
		return fmt.Errorf("go env GOROOT: %w", err)
	}
	root := strings.TrimSpace(string(out))
	var loader []byte
	for _, p := range []string{"lib/wasm/wasm_exec.js", "misc/wasm/wasm_exec.js"} {
		if loader, err = os.ReadFile(filepath.Join(root, p)); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("wasm_exec.js not found in %s: %w", root, err)
	}
	if err := writeIfChanged(filepath.Join(dir, "wasm_exec.js"), loader); err != nil {
		return err
	}
	fmt.Printf("mkweb: peercam.wasm %d bytes, %d gzip-compressed\n", len(raw), gz.Len())
	return nil
}

// writeIfChanged keeps the file (and its time) when the content is the
// same, so make and go's build cache see no change.
func writeIfChanged(name string, b []byte) error {
	if old, err := os.ReadFile(name); err == nil && bytes.Equal(old, b) {
		return nil
	}
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}
