package tokens_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/audit"
	"github.com/yubinmail/yubin/internal/tokens"
	"github.com/yubinmail/yubin/mailstore"
)

func TestAPITokens(t *testing.T) {
	ctx := context.Background()
	actx := auditCtx()
	s := openTestStore(t)
	admin, err := s.ms.CreateAdmin(ctx, "root@example.com", "secret password")
	if err != nil {
		t.Fatal(err)
	}
	ann := newTestUser(t, s, "ann@example.com")
	missing := int64(9999)
	past := time.Now().Add(-time.Hour)
	future := time.Now().Add(time.Hour)
	create := []struct {
		name string
		nt   tokens.NewAPIToken
		want error
	}{
		{"admin", tokens.NewAPIToken{Name: "ci", Scope: tokens.ScopeWrite, AdminID: &admin.ID}, nil},
		{"user", tokens.NewAPIToken{Name: "phone", Scope: tokens.ScopeRead, UserID: &ann.ID, ExpiresAt: &future}, nil},
		{"same name is fine", tokens.NewAPIToken{Name: "ci", Scope: tokens.ScopeRead, AdminID: &admin.ID}, nil},
		{"no owner", tokens.NewAPIToken{Name: "x", Scope: tokens.ScopeRead}, core.ErrInvalid},
		{"two owners", tokens.NewAPIToken{Name: "x", Scope: tokens.ScopeRead, AdminID: &admin.ID, UserID: &ann.ID}, core.ErrInvalid},
		{"bad scope", tokens.NewAPIToken{Name: "x", Scope: "admin", AdminID: &admin.ID}, core.ErrInvalid},
		{"empty name", tokens.NewAPIToken{Name: "", Scope: tokens.ScopeRead, AdminID: &admin.ID}, core.ErrInvalid},
		{"long name", tokens.NewAPIToken{Name: strings.Repeat("é", 101), Scope: tokens.ScopeRead, AdminID: &admin.ID}, core.ErrInvalid},
		{"100 chars", tokens.NewAPIToken{Name: strings.Repeat("é", 100), Scope: tokens.ScopeRead, AdminID: &admin.ID}, nil},
		{"control char", tokens.NewAPIToken{Name: "a\nb", Scope: tokens.ScopeRead, AdminID: &admin.ID}, core.ErrInvalid},
		{"expired", tokens.NewAPIToken{Name: "x", Scope: tokens.ScopeRead, AdminID: &admin.ID, ExpiresAt: &past}, core.ErrInvalid},
		{"unknown admin", tokens.NewAPIToken{Name: "x", Scope: tokens.ScopeRead, AdminID: &missing}, core.ErrNotFound},
		{"unknown user", tokens.NewAPIToken{Name: "x", Scope: tokens.ScopeRead, UserID: &missing}, core.ErrNotFound},
	}
	secrets := map[string]string{}
	secretRE := regexp.MustCompile(`^yb_[a-z2-7]{52}$`)
	for _, tt := range create {
		t.Run("create "+tt.name, func(t *testing.T) {
			tok, secret, err := s.CreateAPIToken(actx, tt.nt)
			if !errors.Is(err, tt.want) {
				t.Fatalf("CreateAPIToken: %v, want %v", err, tt.want)
			}
			if err != nil {
				return
			}
			if !secretRE.MatchString(secret) || tok.Prefix != secret[3:11] || tok.SecretHash != tokens.HashTokenSecret(secret) {
				t.Errorf("secret %q, token %+v", secret, tok)
			}
			if tok.ID == 0 || tok.CreatedAt.IsZero() || tok.LastUsedAt != nil {
				t.Errorf("token %+v", tok)
			}
			secrets[tt.name] = secret
		})
	}
	if n := countAudit(t, s, audit.Filter{Action: "token.create"}); n != 4 {
		t.Errorf("%d token.create rows, want 4", n)
	}
	es, _ := s.log.List(ctx, audit.Filter{Action: "token.create"})
	for _, e := range es {
		for _, secret := range secrets {
			if strings.Contains(e.Details, secret) {
				t.Errorf("audit details leak a secret: %s", e.Details)
			}
		}
	}

	lookup := []struct {
		name, secret string
		ok           bool
	}{
		{"admin", secrets["admin"], true},
		{"user", secrets["user"], true},
		{"unknown", "yb_" + strings.Repeat("a", 52), false},
		{"no prefix", strings.TrimPrefix(secrets["admin"], "yb_"), false},
		{"empty", "", false},
		{"upper case", strings.ToUpper(secrets["admin"]), false},
	}
	for _, tt := range lookup {
		t.Run("lookup "+tt.name, func(t *testing.T) {
			tok, err := s.LookupAPIToken(ctx, tt.secret)
			if tt.ok {
				if err != nil || tok.LastUsedAt == nil {
					t.Fatalf("LookupAPIToken = %+v, %v", tok, err)
				}
			} else if !errors.Is(err, core.ErrAuthFailed) {
				t.Fatalf("LookupAPIToken: %v, want ErrAuthFailed", err)
			}
		})
	}
	tok, err := s.LookupAPIToken(ctx, secrets["admin"])
	if err != nil || tok.AdminID == nil || *tok.AdminID != admin.ID || tok.Scope != tokens.ScopeWrite || tok.Name != "ci" {
		t.Fatalf("LookupAPIToken = %+v, %v", tok, err)
	}

	// LastUsedAt is written at most once a minute.
	first := *tok.LastUsedAt
	if tok, err := s.LookupAPIToken(ctx, secrets["admin"]); err != nil || !tok.LastUsedAt.Equal(first) {
		t.Errorf("second lookup moved LastUsedAt: %v -> %v (%v)", first, tok.LastUsedAt, err)
	}
	old := time.Now().UTC().Add(-2 * time.Minute)
	if err := s.ms.Write(ctx, func(tx *gorm.DB) error {
		return tx.Model(&tokens.APIToken{}).Where("id = ?", tok.ID).Update("last_used_at", old).Error
	}); err != nil {
		t.Fatal(err)
	}
	if tok, err := s.LookupAPIToken(ctx, secrets["admin"]); err != nil || !tok.LastUsedAt.After(old.Add(time.Minute)) {
		t.Errorf("stale LastUsedAt not refreshed: %v (%v)", tok.LastUsedAt, err)
	}

	// Expired tokens fail.
	if err := s.ms.Write(ctx, func(tx *gorm.DB) error {
		return tx.Model(&tokens.APIToken{}).Where("name = ?", "phone").Update("expires_at", time.Now().UTC().Add(-time.Second)).Error
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupAPIToken(ctx, secrets["user"]); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("expired token: %v", err)
	}
	if err := s.ms.Write(ctx, func(tx *gorm.DB) error {
		return tx.Model(&tokens.APIToken{}).Where("name = ?", "phone").Update("expires_at", nil).Error
	}); err != nil {
		t.Fatal(err)
	}
	// A disabled user's tokens fail.
	off := false
	if _, err := s.ms.UpdateUser(ctx, "ann@example.com", mailstore.UserUpdate{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupAPIToken(ctx, secrets["user"]); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("disabled user's token: %v", err)
	}
	on := true
	if _, err := s.ms.UpdateUser(ctx, "ann@example.com", mailstore.UserUpdate{Enabled: &on}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupAPIToken(ctx, secrets["user"]); err != nil {
		t.Errorf("re-enabled user's token: %v", err)
	}

	list := []struct {
		name string
		f    tokens.APITokenFilter
		want int
	}{
		{"all", tokens.APITokenFilter{}, 4},
		{"admin", tokens.APITokenFilter{AdminID: &admin.ID}, 3},
		{"user", tokens.APITokenFilter{UserID: &ann.ID}, 1},
		{"nobody", tokens.APITokenFilter{UserID: &missing}, 0},
	}
	for _, tt := range list {
		t.Run("list "+tt.name, func(t *testing.T) {
			ts, err := s.ListAPITokens(ctx, tt.f)
			if err != nil || len(ts) != tt.want {
				t.Fatalf("ListAPITokens = %d tokens, %v; want %d", len(ts), err, tt.want)
			}
		})
	}

	if err := s.DeleteAPIToken(actx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAPIToken(actx, tok.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("delete again: %v", err)
	}
	if _, err := s.LookupAPIToken(ctx, secrets["admin"]); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("deleted token: %v", err)
	}
	if n := countAudit(t, s, audit.Filter{Action: "token.delete"}); n != 1 {
		t.Errorf("%d token.delete rows, want 1", n)
	}

	// Deleting a user deletes its tokens.
	if err := s.ms.DeleteUser(ctx, "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	if ts, _ := s.ListAPITokens(ctx, tokens.APITokenFilter{UserID: &ann.ID}); len(ts) != 0 {
		t.Errorf("deleted user's tokens remain: %+v", ts)
	}
	if _, err := s.LookupAPIToken(ctx, secrets["user"]); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("deleted user's token: %v", err)
	}
}

// TestAdminCredentialsRevokeTokens: a new password or deleting an admin
// ends their API tokens and sessions (in the transaction of the change).
func TestAdminCredentialsRevokeTokens(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	root, err := s.ms.CreateAdmin(ctx, "root@example.com", "secret password")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ms.CreateAdmin(ctx, "other@example.com", "other password"); err != nil {
		t.Fatal(err)
	}
	owner := tokens.Owner{Kind: tokens.OwnerAdmin, ID: root.ID}
	_, secret, err := s.CreateAPIToken(ctx, tokens.NewAPIToken{Name: "ci", Scope: tokens.ScopeWrite, AdminID: &root.ID})
	if err != nil {
		t.Fatal(err)
	}
	session, err := s.StartSession(ctx, owner, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ms.SetAdminPassword(ctx, "root@example.com", "new password!"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupAPIToken(ctx, secret); !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("token after a new password: %v, want ErrAuthFailed", err)
	}
	if live, err := s.SessionLive(ctx, session); err != nil || live {
		t.Errorf("session after a new password: live %v, %v", live, err)
	}

	if _, _, err := s.CreateAPIToken(ctx, tokens.NewAPIToken{Name: "ci", Scope: tokens.ScopeWrite, AdminID: &root.ID}); err != nil {
		t.Fatal(err)
	}
	if err := s.ms.DeleteAdmin(ctx, "root@example.com"); err != nil {
		t.Fatal(err)
	}
	if ts, _ := s.ListAPITokens(ctx, tokens.APITokenFilter{AdminID: &root.ID}); len(ts) != 0 {
		t.Errorf("deleted admin's tokens remain: %+v", ts)
	}
	if _, _, err := s.CreateAPIToken(ctx, tokens.NewAPIToken{Name: "ci", Scope: tokens.ScopeWrite, AdminID: &root.ID}); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("token for a deleted admin: %v, want ErrNotFound", err)
	}
}
