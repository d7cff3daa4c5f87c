// Package signaling is the Peercam wire protocol: camera IDs, the proof a camera
// gives that it owns its ID, the password parameters it publishes, the messages
// rendezvousd relays, and the SPAKE2+ login handshake that runs end to end
// between a viewer and a camera through that relay. The camera (firmware), the
// viewer and the rendezvous server all import this package; it imports only the
// standard library, filippo.io/nistec (through spake2plus), golang.org/x/crypto
// (argon2id) and golang.org/x/text (NFKC).
//
// This comment is the specification. ProtocolVersion is 1.
//
// # Trust model
//
// The rendezvous is not trusted. It may drop, delay, reorder or replay anything.
// It must not be able to watch video, impersonate a camera, sit in the middle of
// the media path, or learn or test passwords offline. Everything here follows
// from that.
//
// # Camera IDs
//
// A camera creates an Ed25519 key on first start. Its ID is the first 16 bytes
// (128 bits) of SHA-512/256("peercam-id-v1" || public key). An ID is written as
// 28 Crockford base32 characters (alphabet 0123456789ABCDEFGHJKMNPQRSTVWXYZ): 26
// carry the 128 bits big-endian followed by two zero bits, 2 are check
// characters. The check characters c26, c27 make the 28 symbols v0..v27 (values
// 0..31, read as elements of GF(32) with the primitive polynomial x^5 + x^2 + 1
// and generator a = 2) satisfy
//
//	sum(v_i) = 0   and   sum(a^i * v_i) = 0
//
// a Reed-Solomon parity check of distance 3: every error in one or two
// characters, including every swap of two characters, is caught. IDs are shown
// in seven groups of four, e.g. "7ZK3-0F9Q-...". Parsing reads the NFKC form
// (full-width input works), ignores case, white space and dashes of any kind,
// and reads O as 0 and I, L as 1. A string that fails the check is a
// typo (ErrIDCheck: "check characters do not match"), never "camera offline".
//
// # Rendezvous connections
//
// Both sides speak JSON text messages over a WebSocket to rendezvousd; one
// message a frame, at most MaxMessageSize bytes. Every message is an object with
// a "type" member (see Envelope). Binary values are standard base64 with
// padding; times are Unix milliseconds.
//
// A camera connects to /v1/camera:
//
//	S->C  {"type":"challenge","nonce":B64(32 bytes),"time":ms}
//	C->S  {"type":"register","registration":Registration}
//	S->C  {"type":"registered","ice":[ICEServer...]}
//	      or {"type":"error","code":...,"message":...} and the connection closes
//	S->C  {"type":"msg","session":S,"body":{...}}     a viewer's message; the
//	      first of a session also carries "ice":[ICEServer...] for it
//	S->C  {"type":"close","session":S}                the viewer went away
//	C->S  {"type":"msg","session":S,"body":{...}}     the camera's answer
//	C->S  {"type":"close","session":S}                the camera ends a session
//	C->S  {"type":"login","login":LoginParams}         new password parameters
//
// The ice in "registered" and in a session's first msg list STUN and TURN
// servers; TURN credentials in them are short-lived (minutes), so a camera
// uses the session's list for that session, the registration's only when a
// session brings none.
//
// The registration proof is an Ed25519 signature by the device key over
//
//	"peercam-register-v1" 0x00 || version (2 bytes BE) || nonce (32) ||
//	time (8 bytes BE, Unix ms) || ID (16) || SHA-256(login parameters' signing bytes)
//
// The Registration's id is exactly ID.String() and its login parameters are
// required (and must meet the minimum costs). The server checks that
// SHA-512/256("peercam-id-v1" || key) starts with the ID, that the signature is valid, that the nonce is the one it issued on this
// connection (single use, so a recorded proof cannot be replayed), and that the
// time is within MaxClockSkew of its own clock. A second registration of the same
// ID by the same key replaces the first (the camera reconnected); no other key
// can produce that ID.
//
// A viewer connects to /v1/view:
//
//	V->S  {"type":"open","id":"ID as typed"}
//	S->V  {"type":"opened","key":B64(32),"login":LoginParams,"ice":[ICEServer...]}
//	      or {"type":"error","code":"offline",...}
//	V->S  {"type":"msg","body":{...}}    relayed to the camera as a msg with a
//	S->V  {"type":"msg","body":{...}}    session name the server chose
//	either side: close
//
// The server treats "body" as opaque and forwards it unchanged. It keeps no list
// of cameras that exist, only of those connected now: every other ID is
// "offline".
//
// # Password parameters
//
// The camera never stores a password. It publishes LoginParams: an argon2id salt
// (16 bytes, new on every password change) and costs (memory in KiB, passes,
// lanes), signed by its device key over
//
//	"peercam-login-v1" 0x00 || ID (16) || memory (4 BE) || passes (4 BE) ||
//	lanes (1) || salt
//
// A viewer refuses parameters weaker than memory 64 MiB, 3 passes, 4 lanes. It
// derives 80 bytes argon2id(P, salt, passes, memory, lanes) with
//
//	P = len(pw) || pw || len(idProver) || idProver || len(idVerifier) || idVerifier
//
// (lengths 8 bytes little-endian, idProver empty, idVerifier the 16 ID bytes)
// and reduces the two 40-byte halves to the SPAKE2+ scalars w0, w1 (RFC 9383
// section 3.2). pw is CanonicalPassword of what was typed, in UTF-8: a
// string shaped like a setup code (12 Crockford base32 characters, read like
// an ID) becomes its 12 upper-case characters, anything else its NFKC form.
// Cameras refuse passwords shaped like a setup code, so the two never meet.
// The camera stores only (salt, costs, w0, L = w1*P).
//
// Bounds every side enforces on LoginParams: salt exactly 16 bytes, memory at
// most 1 GiB and at least 8 KiB per lane, passes 1 to 16, lanes 1 to 16.
//
// # Login handshake (1.5 round trips, bodies of msg)
//
//	V->C  {"type":"hello","version":1,"session":B64(16),"share":B64(X),
//	       "offer":SDP,"login":B64(SHA-256 of the LoginParams signing bytes)}
//	C->V  {"type":"answer","share":B64(Y),"confirm":B64(confirmV),"answer":SDP,
//	       "sig":B64(Ed25519)}
//	      or {"type":"refused","reason":..., "retry_after_ms":n, "login":LoginParams}
//	V->C  {"type":"confirm","confirm":B64(confirmP)}
//
// SPAKE2+ is RFC 9383, P256-SHA256-HKDF-SHA256-HMAC-SHA256: the viewer is the
// Prover, the camera the Verifier, idProver is empty and idVerifier is the 16 ID
// bytes. Its Context is the 32-byte ContextHash:
//
//	SHA-256("peercam-pake-v1" || lp(version, 2 bytes BE) || lp(ID) || lp(camera key) ||
//	        lp(session) || lp(offer SDP) || lp(answer SDP))
//
// with lp(x) = len(x) as 8 bytes little-endian || x. Both SDPs carry the DTLS
// fingerprints, so a relay that changes an a=fingerprint (or anything else in
// either SDP) makes the confirmations fail. The camera signs
//
//	"peercam-answer-v1" 0x00 || ContextHash || X || Y || confirmV
//
// with its device key; the viewer checks the signature, that the key's ID is the
// ID the person typed, and confirmV, and only then sends confirmP. The camera
// sends no media before confirmP checks out.
//
// The camera answers "refused" instead of an answer with reason:
//
//	denied       the message was malformed, or (after confirm) confirmP was
//	             wrong. A wrong password and a malformed message look the same.
//	busy         another password handshake is running (not a failure)
//	locked       too many failures; retry_after_ms says when to try again
//	stale_login  hello's login digest is not the camera's current parameters;
//	             login carries the current signed parameters (not a failure)
//	version      the hello's version is not supported
//
// # Sealed messages
//
// After the confirmations both sides hold K_shared. Later messages in the same
// session are sealed:
//
//	{"type":"sealed","seq":n,"box":B64(AES-256-GCM ciphertext)}
//
// with the key HKDF-SHA256(K_shared, salt none, info "peercam-seal-v1 viewer" or
// "peercam-seal-v1 camera", 32 bytes) for the sender's direction, the nonce
// 4 zero bytes || seq (8 bytes BE) and no additional data. Each direction
// counts seq from 0 and a receiver accepts only the next one, so nothing can be
// replayed, reordered or reflected. The plaintext is a JSON Command:
//
//	C->V  {"cmd":"status","mode":"live","relay":R}  video follows
//	C->V  {"cmd":"status","mode":"setup","relay":R} setup code in force: no video
//	V->C  {"cmd":"set_password","password":"..."}   the camera checks it and
//	                                                derives a new verifier
//	C->V  {"cmd":"password_set"} or {"cmd":"error","reason":...,"message":...}
//	V->C  {"cmd":"ice_restart","sdp":OFFER}         restart ICE (live sessions)
//	C->V  {"cmd":"ice_answer","sdp":ANSWER} or {"cmd":"error","reason":"ice_restart",...}
//	either {"cmd":"candidates","candidates":["candidate:..."],"done":true}
//	                                                trickled candidates (no reply)
//
// R is the camera's relay setting: "fallback" (a TURN relay only when no
// direct path works), "never" or "always". A viewer uses it to say why no
// path worked; it is absent from cameras that predate it. A camera with
// "never" offers no relay candidates and does not use the viewer's either.
//
// # ICE restart
//
// When the viewer's network changes (a phone moves from Wi-Fi to mobile
// data), its candidates die with it. The viewer then sends a new offer with
// fresh ICE credentials and candidates (an ICE restart, RFC 8445 section
// 9) in an ice_restart command; the camera applies it to the session's
// PeerConnection and answers with ice_answer. Both SDPs are complete
// (candidates gathered). The DTLS association and its keys are kept, so
// the offer's a=fingerprint lines must be those of the hello's offer, which
// the handshake authenticated; the camera refuses any other with an error
// whose reason is "ice_restart". The exchange is sealed: only the two
// authenticated ends can move the media path, the rendezvous cannot point
// it anywhere else, and a restart cannot be replayed (sequence numbers).
// A viewer whose rendezvous connection did not survive the change logs in
// again instead (a new session, with its remembered key).
//
// # Trickle ICE
//
// Gathering candidates costs each side one round trip to the STUN server
// for its server-reflexive candidates and two or more to the TURN server
// for its relayed ones. Without trickle both wait for all of it before
// their part of the handshake, so the login carries it twice. A viewer
// offers trickle with the session-level attribute "a=x-peercam-trickle" in
// its offer. A camera that trickles (live mode only) then answers as soon
// as its first server-reflexive candidate is in, with the same attribute in
// its answer, and sends the rest of its candidates (the relayed ones,
// mostly) after its status, then done, in sealed candidates commands. A
// viewer may trickle its own candidates the same way: it sends its hello
// once its first server-reflexive candidate is in, and the rest after its
// confirm, but only to a camera whose answer carries the attribute. A
// candidate is the a=candidate value of RFC 8839 ("candidate:" foundation
// component transport priority address port "typ" type ...). Commands
// carrying candidates get no reply.
//
// The SDPs are sent once the server-reflexive candidates are in, not at
// once, because direct paths start from them: sent without them, the first
// direct check waited for the sealed candidates and the time to first
// frame through two cone NATs at 20 ms of round trip went from 313 to
// 482 ms in the NAT lab; sent with them, it is 303 ms, and a relayed path
// takes 590 ms instead of 765 (tools/netlab, netlab matrix -figures).
//
// Candidates travel sealed, not in clear bodies beside the handshake: they
// decide where the media goes, and sealed, only the two authenticated ends
// can add paths. A rendezvous that could inject candidates could make the
// camera send its (encrypted) video through a machine of its own choosing,
// defeating relay: never, which promises that the video passes through no
// server. It costs the trickled candidates half a round trip (they wait for
// the confirm), spent while the direct checks already run. The DTLS
// fingerprint binding is unchanged: both SDPs the handshake authenticates
// carry the fingerprints, whatever candidates they carry. Both attributes
// are inside the authenticated SDPs, so the rendezvous cannot turn trickle
// off or on. A camera or viewer that does not know the attribute ignores it
// and gathers completely (the web viewer does).
package signaling
