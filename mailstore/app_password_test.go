package mailstore

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/core"
)

// TestAppPasswordLogin: an app password logs in over the protocols it is
// limited to, in any case and with or without its dashes, records its last
// use; it does not open the dashboard (Authenticate), another account,
// another protocol, or anything once revoked or expired.
func TestAppPasswordLogin(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	if _, err := s.CreateDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"ann@example.com", "bob@example.com"} {
		if _, err := s.CreateUser(ctx, NewUser{Address: a, Password: "long-password"}); err != nil {
			t.Fatal(err)
		}
	}
	ap, pw, err := s.CreateAppPassword(ctx, "ann@example.com", NewAppPassword{Name: "phone", Protocols: []string{ProtocolSubmission, ProtocolIMAP}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ap.Protocols, ",") != "imap,submission" {
		t.Errorf("protocols %v", ap.Protocols)
	}
	from := core.WithRemoteAddr(ctx, netip.MustParseAddr("192.0.2.7"))
	for _, c := range []struct {
		user, pw, proto string
		ok              bool
	}{
		{"ann@example.com", pw, ProtocolIMAP, true},
		{"ANN@example.com", strings.ToUpper(pw), ProtocolSubmission, true},
		{"ann@example.com", strings.ReplaceAll(pw, "-", ""), ProtocolIMAP, true},
		{"ann@example.com", pw, ProtocolPOP3, false},
		{"ann@example.com", pw, ProtocolManageSieve, false},
		{"bob@example.com", pw, ProtocolIMAP, false},
		{"ann@example.com", otherLastLetter(pw), ProtocolIMAP, false},
		{"ann@example.com", "long-password", ProtocolPOP3, true},
	} {
		u, err := s.AuthenticateMail(from, c.user, c.pw, c.proto)
		if c.ok != (err == nil) {
			t.Errorf("%s %s over %s: err %v, want ok %v", c.user, c.pw, c.proto, err, c.ok)
		}
		if err != nil && !errors.Is(err, core.ErrAuthFailed) {
			t.Errorf("%s over %s: %v, want ErrAuthFailed", c.user, c.proto, err)
		}
		if err == nil && u.Address != "ann@example.com" {
			t.Errorf("logged in as %s", u.Address)
		}
	}
	if _, err := s.Authenticate(ctx, "ann@example.com", pw); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("an app password opened the dashboard: %v", err)
	}
	if _, err := s.AuthenticateMail(ctx, "ann@example.com", pw, "ftp"); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("unknown protocol: %v", err)
	}
	aps, err := s.ListAppPasswords(ctx, "ann@example.com")
	if err != nil || len(aps) != 1 {
		t.Fatalf("list: %v %v", aps, err)
	}
	if aps[0].LastUsedAt == nil || aps[0].LastUsedFrom != "192.0.2.7" || aps[0].LastUsedProtocol != ProtocolSubmission && aps[0].LastUsedProtocol != ProtocolIMAP {
		t.Errorf("last use not recorded: %+v", aps[0])
	}
	if err := s.DeleteAppPassword(ctx, "bob@example.com", ap.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("bob revoked ann's app password: %v", err)
	}
	if err := s.DeleteAppPassword(ctx, "ann@example.com", ap.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateMail(ctx, "ann@example.com", pw, ProtocolIMAP); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("a revoked app password logged in: %v", err)
	}

	// Expiry: made valid for a moment, then the clock is past it.
	soon := time.Now().Add(2 * time.Second)
	ap2, pw2, err := s.CreateAppPassword(ctx, "ann@example.com", NewAppPassword{Name: "short", Protocols: []string{ProtocolIMAP}, ExpiresAt: &soon})
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour).UTC()
	if err := s.wdb.Model(&AppPassword{}).Where("id = ?", ap2.ID).Update("expires_at", past).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateMail(ctx, "ann@example.com", pw2, ProtocolIMAP); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("an expired app password logged in: %v", err)
	}

	// Validation.
	for _, na := range []NewAppPassword{
		{Name: "", Protocols: []string{ProtocolIMAP}},
		{Name: "x", Protocols: nil},
		{Name: "x", Protocols: []string{"ftp"}},
		{Name: "x", Protocols: []string{ProtocolIMAP}, ExpiresAt: &past},
	} {
		var ve *core.ValidationError
		if _, _, err := s.CreateAppPassword(ctx, "ann@example.com", na); !errors.As(err, &ve) {
			t.Errorf("%+v: %v, want a validation error", na, err)
		}
	}
}

// TestSecondFactorRefusesAccountPassword: once the user has a second
// factor, or their domain or the server requires one, the account password
// no longer logs in over mail protocols (the dashboard still asks for it
// first), while app passwords do.
func TestSecondFactorRefusesAccountPassword(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	if _, err := s.CreateDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, NewUser{Address: "ann@example.com", Password: "long-password"})
	if err != nil {
		t.Fatal(err)
	}
	_, pw, err := s.CreateAppPassword(ctx, u.Address, NewAppPassword{Name: "phone", Protocols: MailProtocols})
	if err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	for _, c := range []struct {
		name        string
		on, off     func()
		wantAccount bool
	}{
		{"nothing", func() {}, func() {}, true},
		{"domain", func() { s.UpdateDomain(ctx, "example.com", DomainUpdate{RequireTwoFactor: &yes}) },
			func() { s.UpdateDomain(ctx, "example.com", DomainUpdate{RequireTwoFactor: &no}) }, false},
		{"server", func() { s.UpdateSecurityPolicy(ctx, SecurityPolicyUpdate{RequireTwoFactor: &yes}) },
			func() { s.UpdateSecurityPolicy(ctx, SecurityPolicyUpdate{RequireTwoFactor: &no}) }, false},
		{"user", func() { s.wdb.Model(&User{}).Where("id = ?", u.ID).Update("second_factor", true) },
			func() { s.wdb.Model(&User{}).Where("id = ?", u.ID).Update("second_factor", false) }, false},
	} {
		c.on()
		for _, proto := range MailProtocols {
			_, err := s.AuthenticateMail(ctx, u.Address, "long-password", proto)
			if (err == nil) != c.wantAccount {
				t.Errorf("%s: account password over %s: %v", c.name, proto, err)
			}
			if _, err := s.AuthenticateMail(ctx, u.Address, pw, proto); err != nil {
				t.Errorf("%s: app password over %s: %v", c.name, proto, err)
			}
		}
		if _, err := s.Authenticate(ctx, u.Address, "long-password"); err != nil {
			t.Errorf("%s: the account password no longer starts a dashboard sign-in: %v", c.name, err)
		}
		c.off()
	}

	// A new account password revokes every app password.
	if err := s.SetPassword(ctx, u.Address, "another-long-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateMail(ctx, u.Address, pw, ProtocolIMAP); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("an app password outlived a password change: %v", err)
	}
	if aps, _ := s.ListAppPasswords(ctx, u.Address); len(aps) != 0 {
		t.Errorf("app passwords after a password change: %v", aps)
	}
}

// BenchmarkMailLogin compares the cost of a mail login with an app
// password (SHA-256 and an indexed lookup) with one with the account
// password, first through argon2id and then through the verified-credential
// cache (a second login of the same client).
func BenchmarkMailLogin(b *testing.B) {
	ctx := context.Background()
	s := openTestStore(b)
	if _, err := s.CreateDomain(ctx, "example.com"); err != nil {
		b.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, NewUser{Address: "ann@example.com", Password: "long-password"}); err != nil {
		b.Fatal(err)
	}
	_, pw, err := s.CreateAppPassword(ctx, "ann@example.com", NewAppPassword{Name: "phone", Protocols: MailProtocols})
	if err != nil {
		b.Fatal(err)
	}
	from := core.WithRemoteAddr(ctx, netip.MustParseAddr("192.0.2.7"))
	b.Run("app-password", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.AuthenticateMail(from, "ann@example.com", pw, ProtocolIMAP); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("account-password-argon2id", func(b *testing.B) {
		for b.Loop() {
			CheckPassword(dummyHash, "long-password") // one full check (it never matches)
		}
	})
	b.Run("account-password-cached", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.AuthenticateMail(from, "ann@example.com", "long-password", ProtocolIMAP); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// otherLastLetter returns pw with its last character replaced by another
// letter, different also ignoring case (app passwords are matched without
// regard to case).
func otherLastLetter(pw string) string {
	last := strings.ToLower(pw[len(pw)-1:])
	if last == "a" {
		return pw[:len(pw)-1] + "b"
	}
	return pw[:len(pw)-1] + "a"
}
