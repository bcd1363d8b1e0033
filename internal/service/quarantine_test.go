package service

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
)

// recordingReleaser is a QuarantineReleaser that records what it is asked
// to release.
type recordingReleaser struct{ ids []int64 }

func (r *recordingReleaser) ReleaseQuarantined(_ context.Context, id int64) error {
	r.ids = append(r.ids, id)
	return nil
}

// TestReleaseThroughReleaser: with a releaser (the intake's Sieve
// delivery), a release goes through it, after the same role checks as
// without one: only actors who reach every recipient, never a read-only
// token; without one, the store delivers to INBOX.
func TestReleaseThroughReleaser(t *testing.T) {
	ctx := context.Background()
	e := newRoleEnv(t)
	hold := func() int64 {
		q, err := e.store.Quarantine(ctx, mailstore.QuarantineInput{Body: strings.NewReader("Subject: x\r\n\r\nx\r\n"), Recipients: []string{"ann@example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		return q.ID
	}
	rel := &recordingReleaser{}
	e.svc.WithReleaser(rel)
	id := hold()
	for _, name := range []string{"oscar", "readonly"} {
		if err := e.svc.ReleaseQuarantined(ctx, e.actors[name], id); !errors.Is(err, core.ErrForbidden) {
			t.Errorf("%s: release = %v, want forbidden", name, err)
		}
	}
	if len(rel.ids) != 0 {
		t.Fatalf("releaser called for refused actors: %v", rel.ids)
	}
	for _, name := range []string{"ann", "dora", "admin"} {
		if err := e.svc.ReleaseQuarantined(ctx, e.actors[name], id); err != nil {
			t.Fatalf("%s: release: %v", name, err)
		}
	}
	if len(rel.ids) != 3 || rel.ids[0] != id {
		t.Fatalf("releaser got %v, want %d three times", rel.ids, id)
	}

	e.svc.WithReleaser(nil)
	if err := e.svc.ReleaseQuarantined(ctx, e.actors["admin"], id); err != nil {
		t.Fatalf("release without a releaser: %v", err)
	}
	if _, err := e.store.GetQuarantined(ctx, id); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("still held after the store's release: %v", err)
	}
}
