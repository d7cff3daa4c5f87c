// Package auth keeps a camera's secrets and its defences against password
// guessing, in the camera's state directory:
//
//   - the device key, whose public half is the camera's ID (LoadOrCreateKey)
//   - the per-device setup code, in force until the owner sets a password
//     (NewSetupCode, NormalizeSetupCode)
//   - the password verifier the login handshake checks against (Store); never
//     the password itself
//   - the password policy (CheckPassword)
//   - the failure counter and delays that bound online guessing (Guard)
//
// A setup code logs in however it is typed because the login derivation
// itself (signaling.CanonicalPassword) reads a setup-code-shaped password as
// a setup code, on the camera and the viewer alike; NormalizeSetupCode gives
// that same form, with errors for people.
//
// # Files
//
// All files are written atomically and synced (internal/atomicfile), mode
// 0600, in a directory of mode 0700.
//
// identity.key: the Ed25519 device key as one PEM "PRIVATE KEY" block
// (PKCS #8), as "openssl genpkey -algorithm ed25519" writes it. Made once;
// never replaced by the camera (a new key is a new ID).
//
// setup.code: the setup code as shown, "XXXX-XXXX-XXXX" and a newline. It
// exists only in setup mode.
//
// verifier.json: one JSON object (unknown members are refused):
//
//	{
//	  "version": 1,
//	  "id": "7ZK3-0F9Q-...",            camera ID; must match identity.key
//	  "mode": "setup" | "password",
//	  "login": {"salt":B64,"memory":65536,"passes":3,"lanes":4,"sig":B64},
//	  "w0": B64(32 bytes),
//	  "l": B64(65 bytes),               L = w1*P, uncompressed
//	  "setup_check": B64(32 bytes)      setup mode only
//	}
//
// login is the signaling.LoginParams the camera publishes, with a new salt on
// every change; its signature is checked on every read. setup_check is
// HMAC-SHA256(SHA-256("peercam-setup-check-v1" 0x00 || device key seed), setup
// code in normal form): it ties a setup-mode verifier to setup.code, so that
// a reset interrupted between the two writes is recognised, without letting
// anyone who lacks the device key test guesses of the code.
//
// lockout.json: {"version":1,"failures":N,"last_failure":RFC 3339 time}.
// A file that cannot be read or understood is taken as the longest lockout.
//
// # Order of writes
//
// Setting a password writes verifier.json, then removes setup.code. A reset
// writes a new setup.code, then verifier.json. OpenStore finishes whichever
// was interrupted: in password mode it removes a leftover setup.code (undoing
// an unfinished reset), in setup mode it rebuilds the verifier from a
// setup.code that does not match it.
package auth
