package service

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/yubinmail/yubin/core"
)

// TestCeremonies: a ceremony is taken once, only for its purpose and
// account; a flood of passwordless sign-ins, which anyone can begin,
// fills only their own share, and expired ones make room again.
func TestCeremonies(t *testing.T) {
	p := &passkeys{ceremonies: map[string]ceremony{}}
	start := func(challenge, purpose string, userID int64) error {
		return p.start(ceremony{purpose: purpose, userID: userID, session: webauthn.SessionData{Challenge: challenge}})
	}
	if err := start("reg", purposeRegister, 7); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.take("reg", purposeSecondFactor, 7); ok {
		t.Error("a registration taken as a second step")
	}
	if err := start("reg", purposeRegister, 7); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.take("reg", purposeRegister, 8); ok {
		t.Error("another account's ceremony taken")
	}
	if err := start("reg", purposeRegister, 7); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.take("reg", purposeRegister, 7); !ok {
		t.Error("the registration was not found")
	}
	if _, ok := p.take("reg", purposeRegister, 7); ok {
		t.Error("a ceremony taken twice")
	}

	for i := range maxSignInCeremonies {
		if err := start("s"+strconv.Itoa(i), purposeSignIn, 0); err != nil {
			t.Fatalf("sign-in %d: %v", i, err)
		}
	}
	if err := start("one-more", purposeSignIn, 0); !errors.Is(err, core.ErrConflict) {
		t.Errorf("a sign-in beyond the cap: %v", err)
	}
	if err := start("second-step", purposeSecondFactor, 7); err != nil {
		t.Errorf("a second step while sign-ins are at their cap: %v", err)
	}
	if _, ok := p.take("s0", purposeSignIn, 0); !ok {
		t.Fatal("sign-in s0 not found")
	}
	if err := start("one-more", purposeSignIn, 0); err != nil {
		t.Errorf("a sign-in after one was taken: %v", err)
	}
	p.mu.Lock()
	for k, c := range p.ceremonies {
		c.expires = time.Now().Add(-time.Second)
		p.ceremonies[k] = c
	}
	p.mu.Unlock()
	if err := start("after-expiry", purposeSignIn, 0); err != nil {
		t.Errorf("a sign-in once the others expired: %v", err)
	}
	if p.signIns != 1 || len(p.ceremonies) != 1 {
		t.Errorf("after expiry: %d sign-ins, %d ceremonies", p.signIns, len(p.ceremonies))
	}
}
