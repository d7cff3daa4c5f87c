// Package e2e drives the web viewer in Debian's Chromium, as a person would,
// against real rendezvousd and camd processes: type an ID and a password,
// watch the video, choose a password for a new camera, reload, and look at
// screenshots. The tests carry the build tag "browser" (make test-web):
//
//	go test -tags browser -count=1 -v ./viewer/web/e2e/
//
// The suite runs in a network namespace of its own with nothing but a
// loopback interface, so the browser, the camera and the rendezvous can
// only reach each other on 127.0.0.1. Screenshots are kept in $ARTIFACTS
// (default viewer/web/e2e/artifacts, ignored by git).
package e2e
