package media

import (
	"bytes"
	"slices"
	"testing"
)

// Hand-made NAL units: the first byte carries the type.
var (
	sps   = []byte{0x67, 0x42, 0xc0, 0x1e, 0xda}
	pps   = []byte{0x68, 0xce, 0x3c, 0x80}
	idr   = []byte{0x65, 0x88, 0x84, 0x00, 0x33}
	idr2  = []byte{0x65, 0x00, 0x11}
	slice = []byte{0x41, 0x9a, 0x02}
	aud   = []byte{0x09, 0xf0}
	sei   = []byte{0x06, 0x05, 0x01}
)

func annexB(nals ...[]byte) []byte {
	var b []byte
	for _, n := range nals {
		b = append(b, 0, 0, 0, 1)
		b = append(b, n...)
	}
	return b
}

func TestNALUnits(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want [][]byte
	}{
		{"empty", nil, nil},
		{"no start code", idr, [][]byte{idr}},
		{"four-byte start codes", annexB(sps, pps, idr), [][]byte{sps, pps, idr}},
		{"three-byte start codes", slices.Concat([]byte{0, 0, 1}, sps, []byte{0, 0, 1}, pps), [][]byte{sps, pps}},
		{"mixed start codes", slices.Concat([]byte{0, 0, 1}, sps, []byte{0, 0, 0, 1}, idr), [][]byte{sps, idr}},
		{"garbage before first start code", slices.Concat([]byte{0xff, 0xee}, annexB(slice)), [][]byte{slice}},
		{"trailing zero bytes", slices.Concat(annexB(idr), []byte{0, 0}), [][]byte{idr}},
		{"empty NAL skipped", slices.Concat([]byte{0, 0, 1, 0, 0, 1}, slice), [][]byte{slice}},
		{"start code only", []byte{0, 0, 0, 1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NALUnits(tt.in)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d NAL units %x, want %d %x", len(got), got, len(tt.want), tt.want)
			}
			for i := range got {
				if !bytes.Equal(got[i], tt.want[i]) {
					t.Errorf("NAL %d = %x, want %x", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestTypeOf(t *testing.T) {
	for _, tt := range []struct {
		nal  []byte
		want NALType
	}{
		{sps, NALSPS}, {pps, NALPPS}, {idr, NALIDR}, {slice, NALSlice}, {aud, NALAUD}, {sei, NALSEI}, {nil, 0},
	} {
		if got := TypeOf(tt.nal); got != tt.want {
			t.Errorf("TypeOf(%x) = %v, want %v", tt.nal, got, tt.want)
		}
	}
	if s := NALType(28).String(); s != "NAL28" {
		t.Errorf("NALType(28).String() = %q", s)
	}
}

func TestIsKeyframe(t *testing.T) {
	tests := []struct {
		name string
		au   []byte
		want bool
	}{
		{"sps pps idr", annexB(sps, pps, idr), true},
		{"idr alone", annexB(idr), true},
		{"second slice is idr", annexB(sei, idr, idr2), true},
		{"p slice", annexB(slice), false},
		{"parameter sets only", annexB(sps, pps), false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		if got := IsKeyframe(tt.au); got != tt.want {
			t.Errorf("%s: IsKeyframe = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestParamSets feeds a sequence of access units and checks what comes out.
func TestParamSets(t *testing.T) {
	type step struct {
		in      []byte
		want    []byte
		wantKey bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"complete keyframe passes unchanged", []step{
			{annexB(sps, pps, idr), annexB(sps, pps, idr), true},
			{annexB(slice), annexB(slice), false},
		}},
		{"idr before any parameter set is no keyframe", []step{
			{annexB(idr), annexB(idr), false},
			{annexB(sps, pps), annexB(sps, pps), false},
			{annexB(idr), annexB(sps, pps, idr), true},
		}},
		{"later idr gets the parameter sets", []step{
			{annexB(sps, pps, idr, idr2), annexB(sps, pps, idr, idr2), true},
			{annexB(slice), annexB(slice), false},
			{annexB(idr, idr2), annexB(sps, pps, idr, idr2), true},
		}},
		{"only missing pps", []step{
			{annexB(sps, pps, idr), annexB(sps, pps, idr), true},
			{annexB(sps, idr), annexB(sps, pps, sps, idr), true},
		}},
		{"parameter sets go after a leading delimiter", []step{
			{annexB(aud, sps, pps, idr), annexB(aud, sps, pps, idr), true},
			{annexB(aud, idr), annexB(aud, sps, pps, idr), true},
		}},
		{"newest parameter sets win", []step{
			{annexB(sps, pps, idr), nil, true},
			{annexB([]byte{0x67, 0x64}, []byte{0x68, 0x01}), nil, false},
			{annexB(idr), annexB([]byte{0x67, 0x64}, []byte{0x68, 0x01}, idr), true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p ParamSets
			for i, s := range tt.steps {
				in := slices.Clone(s.in)
				got, key := p.Prepare(in)
				if key != s.wantKey {
					t.Errorf("step %d: keyframe = %v, want %v", i, key, s.wantKey)
				}
				if s.want != nil && !bytes.Equal(got, s.want) {
					t.Errorf("step %d: got %x, want %x", i, got, s.want)
				}
				if !bytes.Equal(in, s.in) {
					t.Errorf("step %d: Prepare modified its input", i)
				}
			}
		})
	}
}

func TestParamSetsReset(t *testing.T) {
	var p ParamSets
	p.Prepare(annexB(sps, pps, idr))
	p.Reset()
	if _, key := p.Prepare(annexB(idr)); key {
		t.Error("IDR after Reset reported as keyframe without parameter sets")
	}
}

func FuzzNALUnits(f *testing.F) {
	f.Add(annexB(sps, pps, idr))
	f.Add([]byte{0, 0, 1, 0, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, n := range NALUnits(b) {
			if len(n) == 0 {
				t.Fatal("empty NAL unit")
			}
			if !bytes.Contains(b, n) {
				t.Fatal("NAL unit not taken from input")
			}
		}
		var p ParamSets
		out, _ := p.Prepare(b)
		_ = IsKeyframe(out)
	})
}
