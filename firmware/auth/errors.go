package auth

import (
	"errors"
	"fmt"
	"time"
)

// Why a new password is refused (CheckPassword, Store.SetPassword). Each
// message is a sentence to show the person choosing the password as it is.
var (
	ErrPasswordTooShort   = fmt.Errorf("the password is too short: use at least %d characters (a few words make a good passphrase)", MinPasswordRunes)
	ErrPasswordTooLong    = fmt.Errorf("the password is too long: use at most %d bytes", MaxPasswordBytes)
	ErrPasswordNotText    = errors.New("the password is not valid text (UTF-8)")
	ErrPasswordControl    = errors.New("the password contains a control character such as a tab or a line break")
	ErrPasswordIsID       = errors.New("the password is the camera's ID, which is not secret: choose another")
	ErrPasswordIsSetup    = errors.New("the password is the setup code, which is printed on the camera: choose a new one")
	ErrPasswordRepetitive = errors.New("the password repeats the same few characters: choose something less predictable")
	ErrPasswordSequence   = errors.New("the password is a simple sequence (like 12345 or abcde): choose something less predictable")
	ErrPasswordCommon     = errors.New("the password is on the list of common passwords: choose something less predictable")
	ErrPasswordSetupShape = errors.New("the password looks like a setup code (12 letters and digits): make it longer or add a space or a symbol")
)

// Login attempts (Guard).
var (
	// ErrBusy: another password handshake is in progress. It is not a
	// failure and does not count.
	ErrBusy = errors.New("another login is in progress: try again in a moment")
	// ErrLocked is matched (errors.Is) by every *LockedError.
	ErrLocked = errors.New("too many failed logins")
	// ErrAttemptOver: Succeed or Fail was called on an attempt that was
	// already finished or that ran out of time (and so counted as failed).
	ErrAttemptOver = errors.New("the login attempt is over")
)

// Stored state.
var (
	// ErrKeyFormat: identity.key exists but is not a device key. The camera
	// does not replace it, since a new key would change its ID.
	ErrKeyFormat = errors.New("not a device key")
	// ErrKeyMode: identity.key can be read by other users.
	ErrKeyMode = errors.New("the device key can be read by other users")
	// ErrDamaged: verifier.json cannot be used. "camctl reset" makes a new
	// setup code and verifier (the ID stays).
	ErrDamaged = errors.New("the password verifier is damaged: reset the camera to set it up again")
	// ErrNoSetupCode: a password is set, so no setup code is in force.
	ErrNoSetupCode = errors.New("a password is set: the setup code is no longer valid")
	// ErrSetupCodeLength, ErrSetupCodeChar: NormalizeSetupCode refused its
	// input.
	ErrSetupCodeLength = fmt.Errorf("a setup code has %d letters and digits", SetupCodeLen)
	ErrSetupCodeChar   = errors.New("not a character of setup codes")
)

// LockedError says that a login must wait. It matches ErrLocked.
type LockedError struct {
	// RetryAfter is how long from now until the next attempt is allowed.
	RetryAfter time.Duration
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("too many failed logins: try again in %v", e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// passwordReasons names each password refusal for the wire: a camera sends
// the name in a Command's Reason, and a viewer turns it back into the error.
var passwordReasons = []struct {
	reason string
	err    error
}{
	{"too_short", ErrPasswordTooShort},
	{"too_long", ErrPasswordTooLong},
	{"not_text", ErrPasswordNotText},
	{"control_character", ErrPasswordControl},
	{"is_id", ErrPasswordIsID},
	{"is_setup_code", ErrPasswordIsSetup},
	{"repetitive", ErrPasswordRepetitive},
	{"sequence", ErrPasswordSequence},
	{"common", ErrPasswordCommon},
	{"setup_code_shape", ErrPasswordSetupShape},
}

// PasswordReason returns the stable name of a password refusal returned by
// CheckPassword or Store.SetPassword (e.g. "too_short"), or "" if err is not
// one.
func PasswordReason(err error) string {
	for _, r := range passwordReasons {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return ""
}

// PasswordError returns the refusal named reason (see PasswordReason), or
// nil if the name is unknown.
func PasswordError(reason string) error {
	for _, r := range passwordReasons {
		if r.reason == reason {
			return r.err
		}
	}
	return nil
}
