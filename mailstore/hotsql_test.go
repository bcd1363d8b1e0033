package mailstore

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm/schema"
)

// TestColumnsCoverModels keeps the written-out user and domain queries
// (hotsql.go) in step with the models: a field added to User or Domain
// must be read there too.
func TestColumnsCoverModels(t *testing.T) {
	for _, c := range []struct {
		model   any
		columns string
	}{{&User{}, userColumns}, {&Domain{}, domainColumns}} {
		sch, err := schema.Parse(c.model, &sync.Map{}, schema.NamingStrategy{})
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, f := range sch.Fields {
			if f.DBName != "" {
				want = append(want, f.DBName)
			}
		}
		got := strings.Split(c.columns, ", ")
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%T: columns %v, the model has %v", c.model, got, want)
		}
	}
}

// TestWrittenOutReadsNullDates reads an account and a domain whose
// nullable dates are NULL (rows written by hand or by an older version)
// the way gorm did: as zero times, not as an error that would refuse
// their mail.
func TestWrittenOutReadsNullDates(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	u := newTestUser(t, s, "nulls@example.com")
	if err := s.write(ctx, func(tx *writeTx) error {
		if err := tx.txExec("UPDATE users SET created_at = NULL, updated_at = NULL WHERE id = ?", u.ID); err != nil {
			return err
		}
		return tx.txExec("UPDATE domains SET created_at = NULL WHERE id = ?", u.DomainID)
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.userByAddress(ctx, "nulls@example.com")
	if err != nil || got.ID != u.ID || !got.CreatedAt.IsZero() || !got.UpdatedAt.IsZero() {
		t.Fatalf("userByAddress: %+v, %v", got, err)
	}
	d, err := s.GetDomain(ctx, "example.com")
	if err != nil || d.ID != u.DomainID || !d.CreatedAt.IsZero() {
		t.Fatalf("GetDomain: %+v, %v", d, err)
	}
	rs, err := s.ResolveRecipients(ctx, "nulls@example.com")
	if err != nil || len(rs) != 1 || rs[0].User.ID != u.ID {
		t.Fatalf("ResolveRecipients: %+v, %v", rs, err)
	}
}
