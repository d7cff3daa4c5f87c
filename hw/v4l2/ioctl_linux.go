package v4l2

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel structures, laid out as in linux/videodev2.h for the build's
// word size (the tests check the sizes against the C header's, for 64 and
// 32 bits). On 32-bit ARM the timestamp is the classic 32-bit timeval,
// which the kernel accepts under the ioctl numbers that carry this size.

type v4l2Capability struct {
	Driver       [16]byte
	Card         [32]byte
	BusInfo      [32]byte
	Version      uint32
	Capabilities uint32
	DeviceCaps   uint32
	Reserved     [3]uint32
}

type v4l2Fmtdesc struct {
	Index       uint32
	Type        uint32
	Flags       uint32
	Description [32]byte
	PixelFormat uint32
	MbusCode    uint32
	Reserved    [3]uint32
}

type v4l2Frmsizeenum struct {
	Index       uint32
	PixelFormat uint32
	Type        uint32
	Union       [6]uint32 // discrete {w, h} or stepwise {min_w, max_w, step_w, min_h, max_h, step_h}
	Reserved    [2]uint32
}

const (
	frmsizeDiscrete   = 1
	frmsizeContinuous = 2
	frmsizeStepwise   = 3
)

// v4l2Format's union holds a struct with pointers, so it is aligned to the
// word size: uintptr elements give it that alignment and 200 bytes.
type v4l2Format struct {
	Type uint32
	Fmt  [200 / unsafe.Sizeof(uintptr(0))]uintptr
}

func (f *v4l2Format) raw() *[200]byte { return (*[200]byte)(unsafe.Pointer(&f.Fmt)) }

// Offsets in struct v4l2_pix_format and v4l2_pix_format_mplane (packed).
const (
	pixWidth        = 0
	pixHeight       = 4
	pixPixelFormat  = 8
	pixField        = 12
	pixBytesPerLine = 16 // single-planar
	pixSizeImage    = 20 // single-planar
	mpPlane0Size    = 20 // plane_fmt[0].sizeimage
	mpPlane0BPL     = 24 // plane_fmt[0].bytesperline
	mpNumPlanes     = 180
	fieldNone       = 1
)

type v4l2Requestbuffers struct {
	Count        uint32
	Type         uint32
	Memory       uint32
	Capabilities uint32
	Flags        uint8
	Reserved     [3]uint8
}

const memoryMMAP = 1

type v4l2Buffer struct {
	Index     uint32
	Type      uint32
	BytesUsed uint32
	Flags     uint32
	Field     uint32
	Timestamp [2]uintptr // struct timeval: tv_sec, tv_usec as C long
	Timecode  [16]byte
	Sequence  uint32
	Memory    uint32
	M         uintptr // offset (single-planar) or *v4l2Plane (multi-planar)
	Length    uint32
	Reserved2 uint32
	RequestFD uint32
}

type v4l2Plane struct {
	BytesUsed  uint32
	Length     uint32
	M          uintptr // mem_offset
	DataOffset uint32
	Reserved   [11]uint32
}

type v4l2Streamparm struct {
	Type uint32
	Parm [200]byte // v4l2_captureparm / v4l2_outputparm
}

// Offsets in v4l2_captureparm and v4l2_outputparm (the same for the
// fields used).
const (
	parmCapability  = 0
	parmTPFNum      = 8
	parmTPFDen      = 12
	capTimePerFrame = 0x1000
)

type v4l2ExtControls struct {
	Which     uint32
	Count     uint32
	ErrorIdx  uint32
	RequestFD int32
	Reserved  uint32
	Controls  uintptr // *v4l2ExtControl
}

// v4l2ExtControl is packed in C: id, size, reserved2, then a 64-bit union.
type v4l2ExtControl [20]byte

// ioctl request numbers: _IOC(dir, 'V', nr, size).
func ioc(dir, nr, size uintptr) uintptr { return dir<<30 | size<<16 | 'V'<<8 | nr }

const (
	iocW  = 1
	iocR  = 2
	iocWR = 3
)

var (
	vidiocQuerycap       = ioc(iocR, 0, unsafe.Sizeof(v4l2Capability{}))
	vidiocEnumFmt        = ioc(iocWR, 2, unsafe.Sizeof(v4l2Fmtdesc{}))
	vidiocGFmt           = ioc(iocWR, 4, unsafe.Sizeof(v4l2Format{}))
	vidiocSFmt           = ioc(iocWR, 5, unsafe.Sizeof(v4l2Format{}))
	vidiocReqbufs        = ioc(iocWR, 8, unsafe.Sizeof(v4l2Requestbuffers{}))
	vidiocQuerybuf       = ioc(iocWR, 9, unsafe.Sizeof(v4l2Buffer{}))
	vidiocQbuf           = ioc(iocWR, 15, unsafe.Sizeof(v4l2Buffer{}))
	vidiocDqbuf          = ioc(iocWR, 17, unsafe.Sizeof(v4l2Buffer{}))
	vidiocStreamon       = ioc(iocW, 18, unsafe.Sizeof(int32(0)))
	vidiocStreamoff      = ioc(iocW, 19, unsafe.Sizeof(int32(0)))
	vidiocGParm          = ioc(iocWR, 21, unsafe.Sizeof(v4l2Streamparm{}))
	vidiocSParm          = ioc(iocWR, 22, unsafe.Sizeof(v4l2Streamparm{}))
	vidiocSExtCtrls      = ioc(iocWR, 72, unsafe.Sizeof(v4l2ExtControls{}))
	vidiocEnumFramesizes = ioc(iocWR, 74, unsafe.Sizeof(v4l2Frmsizeenum{}))
)

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return e
	}
}

func cstr(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
