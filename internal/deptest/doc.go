// Package deptest holds tests that guard which packages each Peercam binary
// links; it has no code of its own.
package deptest
