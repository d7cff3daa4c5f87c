// Package v4l2 drives Video4Linux2 devices from pure Go, with ioctls through
// golang.org/x/sys/unix and no cgo, so that the ARMv6 build (Pi Zero W,
// Pi 1), which has no cgo, can still capture.
//
// It covers what a camera daemon needs and no more:
//
//   - VIDIOC_QUERYCAP: what a device is (Capability: capture camera,
//     memory-to-memory codec, something else) and its card name, which is
//     how the Pi's hardware encoder (card "bcm2835-codec") is recognised;
//   - VIDIOC_ENUM_FMT and VIDIOC_ENUM_FRAMESIZES: the pixel formats and
//     picture sizes on offer;
//   - VIDIOC_S_FMT and VIDIOC_S_PARM: choosing one format, size and frame
//     rate;
//   - VIDIOC_S_EXT_CTRLS: controls such as the encoder's bit rate, IDR
//     period and V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME;
//   - VIDIOC_REQBUFS, VIDIOC_QUERYBUF and mmap, VIDIOC_QBUF/VIDIOC_DQBUF and
//     VIDIOC_STREAMON/OFF: streaming through memory-mapped buffers, on a
//     capture queue (a camera) or on both queues of a memory-to-memory
//     device (an encoder: raw pictures into its OUTPUT queue, H.264 out of
//     its CAPTURE queue). Single-planar and multi-planar buffer types are
//     both handled, with one plane per buffer.
//
// A camera that goes away (USB unplugged) makes the calls fail with ENODEV
// or EIO; they are reported as errors matching ErrGone that name the device.
//
// The real driver is Linux only (device_linux.go); elsewhere Open returns an
// error matching errors.ErrUnsupported, so everything that imports the
// package builds and tests anywhere.
package v4l2
