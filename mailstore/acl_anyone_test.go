package mailstore

import (
	"context"
	"testing"
)

// TestAnyoneIsTheOwnersDomain: rights granted to Anyone reach the users of
// the owner's domain only, in RightsOn and SharedWith alike.
func TestAnyoneIsTheOwnersDomain(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	ann := newTestUser(t, s, "ann@example.com")
	bob := newTestUser(t, s, "bob@example.com")
	eve := newTestUser(t, s, "eve@example.net")
	mb, err := s.CreateMailbox(ctx, ann.ID, "Public", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetMailboxRights(ctx, mb.ID, Anyone, "lr"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		u    *User
		want string
	}{{bob, "lr"}, {eve, ""}} {
		if got, err := s.RightsOn(ctx, mb.ID, tc.u.ID); err != nil || got != tc.want {
			t.Errorf("RightsOn for %s = %q %v, want %q", tc.u.Address, got, err, tc.want)
		}
		shared, err := s.SharedWith(ctx, tc.u.ID)
		if err != nil || (len(shared) == 1) != (tc.want != "") {
			t.Errorf("SharedWith %s = %+v %v", tc.u.Address, shared, err)
		}
	}
}
