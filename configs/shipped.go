package configs

import _ "embed"

// The shipped files, as installed to /etc/peercam.
var (
	//go:embed camd.yaml
	CamdYAML []byte
	//go:embed rendezvousd.yaml
	RendezvousdYAML []byte
)
