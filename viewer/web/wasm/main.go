//go:build js && wasm

// Command wasm is the web viewer's protocol engine: package weblogin
// (and through it package signaling) compiled to WebAssembly. It puts one
// object, globalThis.peercam, in the page; every function takes strings
// and returns one JSON text, {"error": sentence, "code": name} on failure.
// The page's JavaScript owns the WebSocket and the RTCPeerConnection and
// passes messages through unchanged.
//
//	checkID(typed)            {"id"}
//	openMessage(typed)        {"send"}
//	opened(typed, msg)        {"handle","id","key","digest","login","ice"}
//	deriveKeys(typed, login, password)  {"w0","w1","digest"}   (argon2id: seconds; stateless, for a worker)
//	useKeys(handle, w0, w1, digest)     {}
//	hello(handle, offerSDP)   {"send"}
//	receive(handle, msg)      weblogin.Result
//	setPassword(handle, pw)   {"send"}
//	close(handle)             {}
//
// When the object is ready it calls globalThis.peercamReady(), if defined.
package main

import (
	"crypto/rand"
	"errors"
	"syscall/js"

	"github.com/peercam/peercam/rendezvous/signaling"
	"github.com/peercam/peercam/viewer/web/weblogin"
)

var (
	logins = map[int]*weblogin.Login{}
	next   = 1
)

type obj = map[string]any

func fail(err error) string {
	out := obj{"error": err.Error()}
	var we *weblogin.Error
	if errors.As(err, &we) {
		out["code"] = we.Code
		if we.RetryAfterMS > 0 {
			out["retry_after_ms"] = we.RetryAfterMS
		}
	}
	return weblogin.JSON(out)
}

func login(args []js.Value) (*weblogin.Login, error) {
	if len(args) == 0 || args[0].Type() != js.TypeNumber {
		return nil, weblogin.ErrState
	}
	l, ok := logins[args[0].Int()]
	if !ok {
		return nil, weblogin.ErrState
	}
	return l, nil
}

func str(args []js.Value, i int) string {
	if i >= len(args) || args[i].Type() != js.TypeString {
		return ""
	}
	return args[i].String()
}

// fn wraps f as a JavaScript function returning a JSON string.
func fn(f func(args []js.Value) string) js.Func {
	return js.FuncOf(func(_ js.Value, args []js.Value) any { return f(args) })
}

func main() {
	api := obj{
		"protocolVersion": signaling.ProtocolVersion,
		"checkID": fn(func(a []js.Value) string {
			id, err := weblogin.CheckID(str(a, 0))
			if err != nil {
				return fail(err)
			}
			return weblogin.JSON(obj{"id": id})
		}),
		"openMessage": fn(func(a []js.Value) string {
			m, err := weblogin.OpenMessage(str(a, 0))
			if err != nil {
				return fail(err)
			}
			return weblogin.JSON(obj{"send": m})
		}),
		"opened": fn(func(a []js.Value) string {
			l, err := weblogin.Opened(str(a, 0), []byte(str(a, 1)), rand.Reader)
			if err != nil {
				return fail(err)
			}
			h := next
			next++
			logins[h] = l
			return weblogin.JSON(obj{"handle": h, "id": l.ID(), "key": weblogin.B64(l.Key()),
				"digest": weblogin.B64(l.Digest()), "login": l.Login(), "ice": l.ICEServers()})
		}),
		"deriveKeys": fn(func(a []js.Value) string {
			w0, w1, digest, err := weblogin.DeriveKeys(str(a, 0), []byte(str(a, 1)), str(a, 2))
			if err != nil {
				return fail(err)
			}
			return weblogin.JSON(obj{"w0": weblogin.B64(w0), "w1": weblogin.B64(w1), "digest": weblogin.B64(digest)})
		}),
		"useKeys": fn(func(a []js.Value) string {
			l, err := login(a)
			if err != nil {
				return fail(err)
			}
			w0, err0 := weblogin.UnB64(str(a, 1))
			w1, err1 := weblogin.UnB64(str(a, 2))
			digest, err2 := weblogin.UnB64(str(a, 3))
			if errors.Join(err0, err1, err2) != nil {
				return fail(weblogin.ErrKeysDamaged)
			}
			if err := l.UseKeys(w0, w1, digest); err != nil {
				return fail(err)
			}
			return "{}"
		}),
		"hello": fn(func(a []js.Value) string {
			l, err := login(a)
			if err != nil {
				return fail(err)
			}
			m, err := l.Hello(str(a, 1))
			if err != nil {
				return fail(err)
			}
			return weblogin.JSON(obj{"send": m})
		}),
		"receive": fn(func(a []js.Value) string {
			l, err := login(a)
			if err != nil {
				return fail(err)
			}
			r, err := l.Receive([]byte(str(a, 1)))
			if err != nil {
				return fail(err)
			}
			return weblogin.JSON(r)
		}),
		"setPassword": fn(func(a []js.Value) string {
			l, err := login(a)
			if err != nil {
				return fail(err)
			}
			m, err := l.SetPassword(str(a, 1))
			if err != nil {
				return fail(err)
			}
			return weblogin.JSON(obj{"send": m})
		}),
		"close": fn(func(a []js.Value) string {
			if l, err := login(a); err == nil {
				l.Close()
				delete(logins, a[0].Int())
			}
			return "{}"
		}),
	}
	js.Global().Set("peercam", js.ValueOf(api))
	if ready := js.Global().Get("peercamReady"); ready.Type() == js.TypeFunction {
		ready.Invoke()
	}
	select {}
}
