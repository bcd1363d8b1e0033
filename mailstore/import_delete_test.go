package mailstore

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestDeleteUserRemovesImports: deleting a user removes their import jobs
// (sealed credentials included) and import marks, and leaves another
// user's alone; a new account under the same address starts with none.
func TestDeleteUserRemovesImports(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	ann := newTestUser(t, s, "ann@example.com")
	bob := newTestUser(t, s, "bob@example.com")
	for _, u := range []*User{ann, bob} {
		j := &ImportJob{UserID: u.ID, Address: u.Address, Source: "imaps://" + u.Address + "@old.example:993", State: ImportQueued, Secret: []byte("sealed")}
		if err := s.CreateImportJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		b, err := s.NewAppendBatch(ctx, u.ID, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Add(ctx, strings.NewReader("Subject: old\r\n\r\nhello\r\n"), nil, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := b.CommitImport(ctx, "maildir:/old", "INBOX", []string{"1"}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(model any, userID int64) int64 {
		var n int64
		if err := s.db.Model(model).Where("user_id = ?", userID).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count(&ImportJob{}, ann.ID) != 1 || count(&importMark{}, ann.ID) != 1 {
		t.Fatal("set-up: ann has no import job or mark")
	}

	if err := s.DeleteUser(ctx, ann.Address); err != nil {
		t.Fatal(err)
	}
	if n := count(&ImportJob{}, ann.ID); n != 0 {
		t.Errorf("%d import jobs of the deleted user left", n)
	}
	if n := count(&importMark{}, ann.ID); n != 0 {
		t.Errorf("%d import marks of the deleted user left", n)
	}
	if count(&ImportJob{}, bob.ID) != 1 || count(&importMark{}, bob.ID) != 1 {
		t.Error("another user's import job or marks were removed")
	}
	if js, err := s.UnfinishedImportJobs(ctx); err != nil || len(js) != 1 || js[0].UserID != bob.ID {
		t.Errorf("unfinished jobs after the delete: %+v, %v; want bob's only", js, err)
	}

	ann2 := newTestUser(t, s, "ann@example.com")
	if js, err := s.ListImportJobs(ctx, ann2.ID); err != nil || len(js) != 0 {
		t.Errorf("the new ann sees import jobs %+v (%v)", js, err)
	}
	if done, err := s.ImportedItems(ctx, ann2.ID, "maildir:/old", "INBOX"); err != nil || len(done) != 0 {
		t.Errorf("the new ann has import marks %v (%v)", done, err)
	}
}
