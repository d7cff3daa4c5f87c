// Package spake2plus implements SPAKE2+, the augmented password-authenticated
// key exchange of RFC 9383, with the ciphersuite
// P256-SHA256-HKDF-SHA256-HMAC-SHA256 (RFC 9383, section 4).
//
// Peercam runs it between a viewer, the Prover, which derives w0 and w1 from
// the password, and a camera, the Verifier, which stores only w0 and the
// registration record L = w1*P. The messages cross the untrusted rendezvous:
// someone who sees or alters them, or who steals the camera's record, cannot
// test passwords offline or impersonate the viewer, and an active attacker
// gets one password guess per handshake.
//
// # Registration
//
// The prover computes w0s || w1s = PBKDF(len(pw) || pw || len(idProver) ||
// idProver || len(idVerifier) || idVerifier) with a memory-hard function
// (Peercam uses argon2id), each half 40 bytes long, and calls
// [ScalarsFromPBKDF] to reduce them mod n to w0 and w1. [RegistrationRecord]
// computes L = w1*P. The verifier stores (w0, L).
//
// # Online protocol
//
//	Prover                                          Verifier
//	x <- [1, n-1], X = x*P + w0*M
//	                    shareP = X (65 bytes)  ->
//	                                                y <- [1, n-1], Y = y*P + w0*N
//	                                                Z = y*(X - w0*M), V = y*L
//	                 <-  shareV = Y (65 bytes), confirmV (32 bytes)
//	Z = x*(Y - w0*N), V = w1*(Y - w0*N)
//	check confirmV
//	                    confirmP (32 bytes)    ->
//	                                                check confirmP
//	K_shared (32 bytes)                             K_shared (32 bytes)
//
// [NewProver] makes shareP; [NewVerifier] checks it and makes shareV and
// confirmV; [Prover.Finish] checks confirmV and makes confirmP; and
// [Verifier.Finish] checks confirmP. K_shared must not be used before the
// party's own Finish succeeds. The prover gives the Context to Finish, not to
// NewProver: it only enters the transcript, and an application may, like
// Peercam, bind things the prover learns together with shareV.
//
// # Key schedule (RFC 9383, section 3.4)
//
// Both sides build the transcript
//
//	TT = len(Context) || Context || len(idProver) || idProver ||
//	     len(idVerifier) || idVerifier || len(M) || M || len(N) || N ||
//	     len(shareP) || shareP || len(shareV) || shareV ||
//	     len(Z) || Z || len(V) || V || len(w0) || w0
//
// where len is an 8-byte little-endian length, points are 65-byte
// uncompressed SEC1 encodings and w0 is 32 bytes big-endian; then
//
//	K_main = SHA-256(TT)
//	K_confirmP || K_confirmV = HKDF-SHA256(salt = nil, K_main, "ConfirmationKeys", 64)
//	K_shared = HKDF-SHA256(salt = nil, K_main, "SharedKey", 32)
//	confirmP = HMAC-SHA256(K_confirmP, shareV)
//	confirmV = HMAC-SHA256(K_confirmV, shareP)
//
// M and N are the fixed P-256 points of RFC 9383 (the same as RFC 9382); the
// cofactor is 1. The Context binds the exchange to what the caller is
// authenticating: Peercam puts the protocol version, the camera ID and key,
// the session ID and both SDPs (hence the DTLS fingerprints) in it. An empty
// identity is encoded as a zero-length string.
//
// # Checks
//
// Shares must be 65-byte uncompressed points on the curve (compressed points
// and the one-byte encoding of the identity are refused), and neither
// X - w0*M nor Y - w0*N, Z or V may be the identity; otherwise the functions
// return [ErrInvalidShare]. Scalars must be canonical and non-zero
// ([ErrInvalidScalar]). Confirmations are compared in constant time
// ([ErrConfirmation]). A Prover or Verifier can Finish only once, whether or
// not the first call succeeded. Nothing here logs or panics on bad input.
package spake2plus
