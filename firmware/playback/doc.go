// Package playback is the camera's side of the playback protocol
// (rendezvous/signaling/playback, whose doc comment is the specification):
// it serves a logged-in viewer's data channel with the recordings on the
// card (package record) and pushes motion events and the recording state to
// every connected viewer.
//
// camd wires it as agent.Config.OnDataChannel, which the agent calls only
// for channels of sessions whose password login was confirmed:
//
//	srv, _ := playback.New(playback.Config{Recordings: rec, Logger: log})
//	agent.Config{..., OnDataChannel: func(c agent.Channel) { srv.Serve(c.DC, c.PC, c.Logger) }}
//	srv.Publish(event)              // motion detector -> every viewer
//	srv.PublishStatus(rec.Status()) // recorder state changes
//
// # Playback on a second track
//
// Recorded video goes to the viewer on a second video track of its
// PeerConnection, which the first play of a session adds by renegotiating
// over the data channel (the camera offers, the viewer answers). The live
// track is left alone, so a viewer may show live and recorded video side by
// side, a second viewer is never disturbed, and the frames of one track are
// never a mix of live and recorded ones (which reusing the live track would
// make hard to tell apart on the viewer's side). Frames are read from the
// segment files (SegmentReader.Seek and ReadFrame: the keyframe at or
// before the time asked for, every keyframe with its SPS and PPS) and
// written at their recorded pace; nothing is decoded or encoded again.
//
// # Downloads
//
// A clip inside one segment file is that file's own bytes (SegmentReader.
// Clip: the init section and the fragments in range). A clip across files
// is put together again from their frames into one fragmented MP4 with a
// continuous timeline. Either way the bytes go out in chunks while the data
// channel's buffered amount stays under BufferHigh, so a slow viewer slows
// the download instead of filling the camera's memory, and at most one
// download (or snapshot) runs on a channel at a time.
package playback
