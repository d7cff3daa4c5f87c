package signaling

import "testing"

func TestTrickleAttribute(t *testing.T) {
	offer := "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:0\r\n"
	if OffersTrickle(offer) {
		t.Fatal("a plain offer offers trickle")
	}
	got := WithTrickle(offer)
	want := "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=x-peercam-trickle\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:0\r\n"
	if got != want {
		t.Fatalf("WithTrickle:\n%q\nwant\n%q", got, want)
	}
	if !OffersTrickle(got) {
		t.Error("WithTrickle's offer does not offer trickle")
	}
	// Only the session part counts: a media-level line is not the signal.
	if OffersTrickle(offer + "a=x-peercam-trickle\r\n") {
		t.Error("a media-level attribute was taken for the session's")
	}
}
