// Package media defines what the camera's video sources produce: H.264
// access units, one per frame, in Annex B form, paced in real time.
//
// A Source hides where the frames come from. Every kind of camera Peercam
// supports fits behind it, because each one ends in an H.264 elementary
// stream:
//
//   - a UVC camera that encodes H.264 itself (V4L2 passthrough): Start opens
//     the device and turns streaming on, ReadFrame dequeues one buffer,
//     ForceKeyFrame sets V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME;
//   - the Pi camera through rpicam-vid: Start runs the process with its
//     output on stdout, ReadFrame cuts the byte stream into access units;
//   - a raw camera plus the Pi's V4L2 memory-to-memory encoder
//     (/dev/video11): Start opens both devices, ReadFrame returns the next
//     encoded buffer, ForceKeyFrame sets the same control on the encoder;
//   - the test pattern (package testpattern): rendered and encoded in
//     software with openh264.
//
// Sources are started lazily and may be stopped and started again: the
// stream package starts one when the first viewer arrives and closes it when
// the last one leaves, so a camera nobody watches does not encode.
//
// The file also carries the H.264 helpers every source needs: splitting an
// access unit into NAL units, recognising keyframes, and making sure each
// keyframe carries its SPS and PPS so that a decoder can start there
// (ParamSets).
package media
