package mailstore

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/core"
)

// TestDeliverAllOrNothing: a delivery to several users of which one is
// over quota makes no copy at all, and uses no quota.
func TestDeliverAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	roomy := newTestUser(t, s, "roomy@example.com")
	full, err := s.CreateUser(ctx, NewUser{Address: "full@example.com", Password: "long enough", QuotaBytes: 50})
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("x", 80)
	targets := []DeliveryTarget{{UserID: roomy.ID}, {UserID: full.ID}}
	res, err := s.Deliver(ctx, Delivery{Targets: targets, Body: strings.NewReader(body), EnforceQuota: true, AllOrNothing: true})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[0].Err, ErrNotDelivered) || !errors.Is(res[1].Err, core.ErrOverQuota) {
		t.Fatalf("results %+v", res)
	}
	u, err := s.GetUser(ctx, "roomy@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if u.UsedMessages != 0 || u.UsedBytes != 0 {
		t.Fatalf("a copy was kept: %+v", u)
	}
	// Without AllOrNothing, the one with room gets it.
	res, err = s.Deliver(ctx, Delivery{Targets: targets, Body: strings.NewReader(body), EnforceQuota: true})
	if err != nil || res[0].Err != nil || !errors.Is(res[1].Err, core.ErrOverQuota) {
		t.Fatalf("results %+v, %v", res, err)
	}
}
