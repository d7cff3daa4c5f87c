// Package playback is the protocol a viewer and a camera speak over a
// WebRTC data channel of their authenticated session: listing recordings and
// events, playing a recording from a chosen time, downloading a clip, event
// snapshots, and motion events and recording status pushed live. It never
// passes through the rendezvous. The camera's side is firmware/playback, the
// viewer's viewer/playback; this package holds what both must agree on and
// imports only the standard library.
//
// This comment is the specification. Version is 1.
//
// # Channel and trust
//
// The viewer creates one data channel labelled "peercam" (Label: ordered,
// reliable) on its PeerConnection before it makes the offer of its login, so
// that the SDP the SPAKE2+ handshake authenticates already carries the SCTP
// association, and with it the DTLS fingerprints the channel runs over. The
// camera takes a channel into service only after the viewer's key
// confirmation checked out on a session in live mode (a password login, not
// the setup code); the channels of any other session are closed, and a
// session that opens more than a few channels has the rest closed. Anything
// received on a channel is therefore from the person who knows the password.
//
// The two sides greet each other first, since either may begin to read
// the channel a moment after the other began to write (a message that
// arrives before its reader is dropped): the camera sends hello (id 0) when
// it takes the channel into service, and the viewer sends hello (id 1, 2,
// 3 ...) every 250 ms until a hello comes back; the camera answers each of
// the viewer's hellos with its own. Other requests follow the first hello
// the viewer reads.
//
// # Messages
//
// Text messages are JSON objects (Message), at most MaxMessage bytes, one a
// message. Every message has a "type"; a request from the viewer has an "id"
// (1, 2, 3 ... unique on the channel), and every answer to it carries that
// id. Messages the camera sends on its own carry id 0. Times are RFC 3339
// with nanoseconds, in UTC; an absent from or to leaves that side open.
// Unknown fields are ignored (new fields may come without a new Version).
//
//	V->C  {"id":N,"type":"hello","version":1}
//	C->V  {"id":N,"type":"hello","version":1,"recording":Status}
//
//	V->C  {"id":N,"type":"list","from":T,"to":T}
//	C->V  {"id":N,"type":"list","segments":[Segment...],"events":[Event...],"truncated":bool}
//
// Segments and events that overlap [from, to), oldest first, at most
// MaxList of each; truncated says there are more: ask again from the end of
// the last one.
//
//	V->C  {"id":N,"type":"play","at":T}
//	C->V  {"id":N,"type":"offer","sdp":SDP}       first play on a session only
//	V->C  {"id":N,"type":"answer","sdp":SDP}
//	C->V  {"id":N,"type":"playing","start":T,"seq":S}
//	C->V  {"id":N,"type":"segment","start":T,"seq":S}   each next segment
//	C->V  {"id":N,"type":"ended","reason":R}
//	V->C  {"id":M,"type":"stop"}                  answered {"id":M,"type":"stopped"}
//
// Recorded video goes on a second video track of the session (TrackID
// "playback" in stream StreamID), apart from the live one. The camera adds
// it, on the first play of a session, by renegotiating over this channel:
// it sends an offer, the viewer applies it and answers with its SDP (DTLS
// and ICE stay as they are; candidates in either SDP are ignored). The live
// track keeps running. Playback starts at the keyframe at or before "at"
// (at the first recording after "at" when "at" falls between recordings),
// and playing's start is the capture time of that first frame. Frames then
// follow in real time at their recorded pace, from segment to segment; RTP
// timestamps advance by the frames' recorded durations, so within a segment
// a frame's capture time is start (or the segment's start) plus its RTP
// time since the first frame of that segment. Playback follows the
// recording being made, and ends ("ended", reason "end") once it has caught
// up with it and no frame came for a few seconds, or where the recordings
// end. A new play on the channel replaces the one going on (which ends with
// reason "replaced"); stop ends it (reason "stopped").
//
//	V->C  {"id":N,"type":"download","from":T,"to":T}
//	C->V  {"id":N,"type":"download","start":T,"end":T,"name":"...mp4","content_type":"video/mp4"}
//	C->V  binary chunks of request N
//	C->V  {"id":N,"type":"done","size":BYTES,"sha256":HEX,"end":T}
//
// A clip is a fragmented MP4 that ffprobe and browsers play: from the
// keyframe at or before from to the end of the fragment that holds to (so
// start and end may be a little wider than asked), at most MaxClip long.
// Within one recording file it is that file's bytes (its init section and
// the fragments); across files it is put together again from their frames
// (the recordings must then share the picture size; it ends where that
// changes, and done's end, present only then, says where). The viewer knows the clip is whole when done arrives and the
// size and SHA-256 match what it received; anything else (error, a closed
// channel) leaves it incomplete.
//
//	V->C  {"id":N,"type":"snapshot","event_id":E}
//	C->V  {"id":N,"type":"snapshot","content_type":"image/jpeg"}, chunks, done
//
//	V->C  {"id":M,"type":"cancel","ref":N}        ends download N: error "cancelled"
//	V->C  {"id":N,"type":"status"}
//	C->V  {"id":N,"type":"status","recording":Status}
//
//	C->V  {"type":"event","event":Event}           a motion event starts or ends
//	C->V  {"type":"status","recording":Status}     the recording state changed
//
//	C->V  {"id":N,"type":"error","code":C,"error":"one sentence"}
//
// Error codes: "bad_request" (malformed, or a field out of range),
// "unknown_type", "not_found" (nothing recorded there; no such event),
// "unavailable" (the camera does not record, or its card is missing,
// read-only or full; recording's status says which), "busy" (a download is
// already running on this channel), "cancelled", "internal".
//
// # Binary chunks
//
// A download's bytes go in binary messages: the request's id as 4 bytes big
// endian, then at most ChunkSize bytes of data, in order. The camera sends
// while the channel's buffered amount stays under a bound (BufferHigh) and
// waits for it to drain to BufferLow before sending more, so a slow viewer
// slows the download instead of filling the camera's memory.
//
// # Events and status
//
// A connected viewer gets each motion event twice, as it starts (no end) and
// as it ends, and the recording status whenever its state changes, e.g. when
// the card goes missing, read-only or full (state "error" with a code) and
// when recording resumes. Live view goes on meanwhile: recording problems
// never touch the video track.
package playback
