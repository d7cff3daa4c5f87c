package turncred

import "errors"

var (
	// ErrShortSecret: the secret is shorter than MinSecretLen.
	ErrShortSecret = errors.New("the TURN secret is too short")
	// ErrMalformed: a username is not "<expiry>:<tag>".
	ErrMalformed = errors.New("turncred: malformed username")
	// ErrExpired: the credential's expiry has passed.
	ErrExpired = errors.New("turncred: credential expired")
	// ErrTooLong: the credential's expiry lies further ahead than this
	// issuer's lifetime allows, so it did not mint it.
	ErrTooLong = errors.New("turncred: credential lifetime longer than allowed")
	// ErrWrongPassword: the password does not match the username.
	ErrWrongPassword = errors.New("turncred: wrong password")
)
