package mailstore

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/core"
)

// revocation is one call of a CredentialRevoker.
type revocation struct {
	owner     SessionOwner
	apiTokens bool
}

// TestCredentialRevokers: every change of an account's credentials runs
// the registered revokers in its transaction, with API tokens for a new
// password or a deletion and without for a disabled account; a revoker
// that fails undoes the change.
func TestCredentialRevokers(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	ann := newTestUser(t, s, "ann@example.com")
	root, err := s.CreateAdmin(ctx, "root@example.com", "secret password")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAdmin(ctx, "other@example.com", "other password"); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var calls []revocation
	var fail error
	s.SetCredentialRevoker("test", func(tx *gorm.DB, o SessionOwner, apiTokens bool) error {
		mu.Lock()
		defer mu.Unlock()
		if fail != nil {
			return fail
		}
		calls = append(calls, revocation{o, apiTokens})
		return nil
	})
	off := false
	userOwner := SessionOwner{Kind: OwnerUser, ID: ann.ID}
	adminOwner := SessionOwner{Kind: OwnerAdmin, ID: root.ID}
	tests := []struct {
		name   string
		change func() error
		want   revocation
	}{
		{"user password", func() error { return s.SetPassword(ctx, "ann@example.com", "another password") }, revocation{userOwner, true}},
		{"user disabled", func() error {
			_, err := s.UpdateUser(ctx, "ann@example.com", UserUpdate{Enabled: &off})
			return err
		}, revocation{userOwner, false}},
		{"admin password", func() error { return s.SetAdminPassword(ctx, "root@example.com", "new password!") }, revocation{adminOwner, true}},
		{"user deleted", func() error { return s.DeleteUser(ctx, "ann@example.com") }, revocation{userOwner, true}},
		{"admin deleted", func() error { return s.DeleteAdmin(ctx, "root@example.com") }, revocation{adminOwner, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls = nil
			if err := tt.change(); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(calls, []revocation{tt.want}) {
				t.Errorf("revocations %+v, want %+v", calls, tt.want)
			}
		})
	}

	// A revoker that fails fails the change, which is not made.
	bob := newTestUser(t, s, "bob@example.com")
	fail = core.ErrConflict
	if err := s.SetPassword(ctx, "bob@example.com", "a new password"); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("SetPassword with a failing revoker: %v", err)
	}
	if _, err := s.Authenticate(ctx, "bob@example.com", "correct horse"); err != nil {
		t.Errorf("the old password no longer works after a failed change: %v", err)
	}
	if u, _ := s.GetUser(ctx, "bob@example.com"); u.CredentialVersion != bob.CredentialVersion {
		t.Errorf("credential version moved on in a failed change: %d → %d", bob.CredentialVersion, u.CredentialVersion)
	}
}

// ownerTableV1 and ownerTableV2 are two versions of another owner's table.
type ownerTableV1 struct {
	ID   int64 `gorm:"primaryKey"`
	Name string
}

func (ownerTableV1) TableName() string { return "owner_versioned" }

type ownerTableV2 struct {
	ID    int64 `gorm:"primaryKey"`
	Name  string
	Extra int64 `gorm:"not null;default:0"`
}

func (ownerTableV2) TableName() string { return "owner_versioned" }

// TestMigrateTablesVersions: each migration that changes an owner's
// models raises its version in schema_owners; one that changes nothing
// leaves it, also when several run at once.
func TestMigrateTablesVersions(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	version := func() int {
		t.Helper()
		var row ownerSchema
		if err := s.db.Where("owner = ?", "versioned").Take(&row).Error; err != nil {
			t.Fatal(err)
		}
		return row.Version
	}
	if err := s.MigrateTables(ctx, "versioned", &ownerTableV1{}); err != nil {
		t.Fatal(err)
	}
	if v := version(); v != 1 {
		t.Errorf("version %d after the first migration, want 1", v)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() { errs <- s.MigrateTables(ctx, "versioned", &ownerTableV2{}) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if v := version(); v != 2 {
		t.Errorf("version %d after the second migration (four at once), want 2", v)
	}
	if err := s.db.Create(&ownerTableV2{Name: "x", Extra: 7}).Error; err == nil {
		t.Error("the reader pool wrote")
	}
	if err := s.Write(ctx, func(tx *gorm.DB) error { return tx.Create(&ownerTableV2{Name: "x", Extra: 7}).Error }); err != nil {
		t.Fatalf("the migrated table: %v", err)
	}
}
