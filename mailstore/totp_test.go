package mailstore

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/testpeer"
)

// oathtool returns the TOTP code of the base32 secret at t computed by
// oathtool (an independent implementation of RFC 6238).
func oathtool(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	path := testpeer.Need(t, "/usr/bin/oathtool", "oathtool")
	out, err := exec.Command(path, "--totp", "--base32", "--now", at.UTC().Format("2006-01-02 15:04:05 UTC"), secret).Output()
	if err != nil {
		t.Fatalf("oathtool: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TestTOTPAgainstOathtool: our codes are oathtool's at many times, the
// RFC 6238 test vector holds, and a code is accepted one step early or
// late but never for a step already used.
func TestTOTPAgainstOathtool(t *testing.T) {
	// RFC 6238 Appendix B, SHA-1, T = 59 s: 94287082 (8 digits); our six
	// digits are its last six.
	if got := totpCode([]byte("12345678901234567890"), 59/30); got != "287082" {
		t.Errorf("RFC 6238 vector: %s, want 287082", got)
	}
	secret := totpEncoding.EncodeToString([]byte("a secret of twenty b"))
	raw, _ := totpEncoding.DecodeString(secret)
	base := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	for i, off := range []time.Duration{0, 29 * time.Second, 30 * time.Second, 17 * time.Hour, 400 * 24 * time.Hour} {
		at := base.Add(off)
		want := oathtool(t, secret, at)
		step := at.Unix() / 30
		if got := totpCode(raw, step); got != want {
			t.Errorf("case %d: our code %s, oathtool %s", i, got, want)
		}
		if totpMatch(raw, want, at, 0) != step {
			t.Errorf("case %d: oathtool's code not accepted", i)
		}
		if totpMatch(raw, want, at.Add(30*time.Second), 0) != step || totpMatch(raw, want, at.Add(-30*time.Second), 0) != step {
			t.Errorf("case %d: not accepted one step off", i)
		}
		if totpMatch(raw, want, at.Add(90*time.Second), 0) != 0 {
			t.Errorf("case %d: accepted three steps late", i)
		}
		if totpMatch(raw, want, at, step) != 0 {
			t.Errorf("case %d: accepted again for its own step (replay)", i)
		}
	}
}

// TestTOTPSignIn enrols an authenticator with a code from oathtool and
// signs in: a code works once, recovery codes work once each, a wrong
// code fails, enrolling ends the sessions, and removing the factor lets
// the account password back onto the mail protocols.
func TestTOTPSignIn(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	if _, err := s.CreateDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, NewUser{Address: "ann@example.com", Password: "long-password"})
	if err != nil {
		t.Fatal(err)
	}
	en, err := s.StartTOTP(ctx, u.Address, "mail.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(en.URI, "otpauth://totp/mail.example.com:ann@example.com?") || !strings.Contains(en.URI, "secret="+en.Secret) {
		t.Errorf("otpauth URI %q", en.URI)
	}
	if _, err := s.ConfirmTOTP(ctx, u.Address, "000000x"); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("confirm with a wrong code: %v", err)
	}
	now := time.Now()
	codes, err := s.ConfirmTOTP(ctx, u.Address, oathtool(t, en.Secret, now))
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != recoveryCodeCount {
		t.Fatalf("%d recovery codes", len(codes))
	}
	if _, err := s.StartTOTP(ctx, u.Address, "x"); !errors.Is(err, core.ErrConflict) {
		t.Errorf("a second enrolment over a confirmed one: %v", err)
	}
	after, _ := s.GetUser(ctx, u.Address)
	if !after.SecondFactor || after.CredentialVersion == u.CredentialVersion {
		t.Errorf("after enrolment: second factor %v, credential version %d → %d", after.SecondFactor, u.CredentialVersion, after.CredentialVersion)
	}
	if _, err := s.AuthenticateMail(ctx, u.Address, "long-password", ProtocolIMAP); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("account password over IMAP with a second factor: %v", err)
	}

	// The code that confirmed is used up; the next step's code works once.
	if _, err := s.VerifySecondFactor(ctx, u.ID, FactorTOTP, oathtool(t, en.Secret, now)); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("the enrolment code signed in again: %v", err)
	}
	next := oathtool(t, en.Secret, now.Add(30*time.Second))
	if _, err := s.VerifySecondFactor(ctx, u.ID, FactorTOTP, next); err != nil {
		t.Errorf("next step's code: %v", err)
	}
	if _, err := s.VerifySecondFactor(ctx, u.ID, FactorTOTP, next); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("replayed code: %v", err)
	}
	if _, err := s.VerifySecondFactor(ctx, u.ID, FactorTOTP, "123456"); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("wrong code: %v", err)
	}
	left, err := s.VerifySecondFactor(ctx, u.ID, FactorRecoveryCode, strings.ToUpper(codes[3]))
	if err != nil || left != recoveryCodeCount-1 {
		t.Errorf("recovery code: %d left, %v", left, err)
	}
	if _, err := s.VerifySecondFactor(ctx, u.ID, FactorRecoveryCode, codes[3]); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("recovery code used twice: %v", err)
	}

	if err := s.RemoveSecondFactor(ctx, u.Address); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifySecondFactor(ctx, u.ID, FactorRecoveryCode, codes[4]); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("recovery code after removal: %v", err)
	}
	if _, err := s.AuthenticateMail(ctx, u.Address, "long-password", ProtocolIMAP); err != nil {
		t.Errorf("account password over IMAP after removal: %v", err)
	}
}
