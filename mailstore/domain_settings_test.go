package mailstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/db"
	"github.com/yubinmail/yubin/internal/testdb"
)

func TestUpdateDomain(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	if _, err := s.CreateDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		domain  string
		up      DomainUpdate
		wantErr error
		check   func(*Domain) bool
	}{
		{"nothing", "example.com", DomainUpdate{}, nil, func(d *Domain) bool { return d.Enabled && d.MaxQuotaBytes == 0 }},
		{"limits", "Example.COM", DomainUpdate{DefaultQuotaBytes: ptr[int64](1000), MaxQuotaBytes: ptr[int64](5000), QuotaBytes: ptr[int64](1 << 20), MaxUsers: ptr[int64](3)}, nil,
			func(d *Domain) bool {
				return d.DefaultQuotaBytes == 1000 && d.MaxQuotaBytes == 5000 && d.QuotaBytes == 1<<20 && d.MaxUsers == 3
			}},
		{"disable", "example.com", DomainUpdate{Enabled: ptr(false)}, nil, func(d *Domain) bool { return !d.Enabled && d.MaxUsers == 3 }},
		{"enable", "example.com", DomainUpdate{Enabled: ptr(true)}, nil, func(d *Domain) bool { return d.Enabled }},
		{"negative default", "example.com", DomainUpdate{DefaultQuotaBytes: ptr[int64](-1)}, core.ErrInvalid, nil},
		{"negative max", "example.com", DomainUpdate{MaxQuotaBytes: ptr[int64](-1)}, core.ErrInvalid, nil},
		{"negative quota", "example.com", DomainUpdate{QuotaBytes: ptr[int64](-5)}, core.ErrInvalid, nil},
		{"negative users", "example.com", DomainUpdate{MaxUsers: ptr[int64](-1)}, core.ErrInvalid, nil},
		{"default above max", "example.com", DomainUpdate{DefaultQuotaBytes: ptr[int64](6000)}, core.ErrInvalid, nil},
		{"max below default", "example.com", DomainUpdate{MaxQuotaBytes: ptr[int64](999)}, core.ErrInvalid, nil},
		{"both", "example.com", DomainUpdate{DefaultQuotaBytes: ptr[int64](100), MaxQuotaBytes: ptr[int64](200)}, nil,
			func(d *Domain) bool { return d.DefaultQuotaBytes == 100 && d.MaxQuotaBytes == 200 }},
		{"no max: any default", "example.com", DomainUpdate{DefaultQuotaBytes: ptr[int64](9000), MaxQuotaBytes: ptr[int64](0)}, nil,
			func(d *Domain) bool { return d.DefaultQuotaBytes == 9000 && d.MaxQuotaBytes == 0 }},
		{"unknown", "example.org", DomainUpdate{MaxUsers: ptr[int64](1)}, core.ErrNotFound, nil},
		{"bad name", "not a domain", DomainUpdate{}, core.ErrInvalid, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := s.UpdateDomain(ctx, tt.domain, tt.up)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(d) {
				t.Fatalf("domain after update: %+v", d)
			}
			got, err := s.GetDomain(ctx, tt.domain)
			if err != nil || !reflect.DeepEqual(*got, *d) {
				t.Fatalf("GetDomain = %+v, %v; want %+v", got, err, d)
			}
		})
	}
	_, err := s.UpdateDomain(ctx, "example.com", DomainUpdate{DefaultQuotaBytes: ptr[int64](10), MaxQuotaBytes: ptr[int64](5)})
	if err == nil || !strings.Contains(err.Error(), "default quota") {
		t.Fatalf("unclear error: %v", err)
	}
}

func TestDomainUserLimit(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	newTestUser(t, s, "a@example.com")
	if _, err := s.UpdateDomain(ctx, "example.com", DomainUpdate{MaxUsers: ptr[int64](2)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, NewUser{Address: "b@example.com", Password: "long enough"}); err != nil {
		t.Fatal(err)
	}
	_, err := s.CreateUser(ctx, NewUser{Address: "c@example.com", Password: "long enough"})
	if !errors.Is(err, core.ErrConflict) || !strings.Contains(err.Error(), "user limit") {
		t.Fatalf("third user: %v", err)
	}
	// Concurrent creations cannot overshoot: the count is in the transaction.
	if err := s.DeleteUser(ctx, "b@example.com"); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 5)
	for i := range 5 {
		go func() {
			_, err := s.CreateUser(ctx, NewUser{Address: fmt.Sprintf("x%d@example.com", i), Password: "long enough"})
			errs <- err
		}()
	}
	var ok int
	for range 5 {
		if err := <-errs; err == nil {
			ok++
		} else if !errors.Is(err, core.ErrConflict) {
			t.Fatal(err)
		}
	}
	if n, err := s.CountUsers(ctx, UserFilter{Domain: "example.com"}); ok != 1 || n != 2 || err != nil {
		t.Fatalf("%d concurrent creations succeeded, %d users (%v)", ok, n, err)
	}
	// Lifting the limit.
	if _, err := s.UpdateDomain(ctx, "example.com", DomainUpdate{MaxUsers: ptr[int64](0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, NewUser{Address: "c@example.com", Password: "long enough"}); err != nil {
		t.Fatal(err)
	}
}

func TestDomainUserQuotaRules(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	for _, d := range []string{"nodefault.example", "withdefault.example", "defaultonly.example", "free.example"} {
		if _, err := s.CreateDomain(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	ups := map[string]DomainUpdate{
		"nodefault.example":   {MaxQuotaBytes: ptr[int64](1000)},
		"withdefault.example": {MaxQuotaBytes: ptr[int64](1000), DefaultQuotaBytes: ptr[int64](300)},
		"defaultonly.example": {DefaultQuotaBytes: ptr[int64](300)},
	}
	for d, up := range ups {
		if _, err := s.UpdateDomain(ctx, d, up); err != nil {
			t.Fatal(err)
		}
	}
	create := []struct {
		addr      string
		quota     int64
		wantErr   error
		wantQuota int64
	}{
		{"a@nodefault.example", 0, nil, 1000},
		{"b@nodefault.example", 500, nil, 500},
		{"c@nodefault.example", 1000, nil, 1000},
		{"d@nodefault.example", 1001, core.ErrInvalid, 0},
		{"a@withdefault.example", 0, nil, 300},
		{"b@withdefault.example", 700, nil, 700},
		{"c@withdefault.example", 5000, core.ErrInvalid, 0},
		{"a@defaultonly.example", 0, nil, 300},
		{"b@defaultonly.example", 5000, nil, 5000},
		{"a@free.example", 0, nil, 0},
		{"b@free.example", 1 << 40, nil, 1 << 40},
	}
	for _, tt := range create {
		t.Run("create "+tt.addr, func(t *testing.T) {
			u, err := s.CreateUser(ctx, NewUser{Address: tt.addr, Password: "long enough", QuotaBytes: tt.quota})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.QuotaBytes != tt.wantQuota {
				t.Fatalf("quota %d, want %d", u.QuotaBytes, tt.wantQuota)
			}
		})
	}
	update := []struct {
		addr    string
		quota   int64
		wantErr error
	}{
		{"a@nodefault.example", 999, nil},
		{"a@nodefault.example", 1000, nil},
		{"a@nodefault.example", 1001, core.ErrInvalid},
		{"a@nodefault.example", 0, core.ErrInvalid}, // unlimited is above any maximum
		{"a@defaultonly.example", 0, nil},
		{"a@free.example", 12345, nil},
		{"nobody@free.example", 1, core.ErrNotFound},
	}
	for _, tt := range update {
		t.Run(fmt.Sprintf("update %s %d", tt.addr, tt.quota), func(t *testing.T) {
			u, err := s.UpdateUser(ctx, tt.addr, UserUpdate{QuotaBytes: ptr(tt.quota)})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.QuotaBytes != tt.quota {
				t.Fatalf("quota %d, want %d", u.QuotaBytes, tt.quota)
			}
		})
	}
	// Other fields can still change for a user whose quota is over a
	// maximum lowered later.
	if _, err := s.UpdateDomain(ctx, "nodefault.example", DomainUpdate{MaxQuotaBytes: ptr[int64](100)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateUser(ctx, "a@nodefault.example", UserUpdate{DisplayName: ptr("A")}); err != nil {
		t.Fatal(err)
	}
}

// checkDomainUsage checks that a domain's usage is the sum of its users'.
func checkDomainUsage(t *testing.T, s *Store, domain string, wantBytes, wantMessages int64) {
	t.Helper()
	ctx := context.Background()
	us, err := s.ListUsers(ctx, UserFilter{Domain: domain})
	if err != nil {
		t.Fatal(err)
	}
	var b, m int64
	for _, u := range us {
		b += u.UsedBytes
		m += u.UsedMessages
	}
	du, err := s.DomainUsage(ctx, domain)
	if err != nil {
		t.Fatal(err)
	}
	if du.UsedBytes != b || du.UsedMessages != m || du.Users != int64(len(us)) {
		t.Fatalf("domain usage %+v, users sum to %d bytes, %d messages, %d users", du, b, m, len(us))
	}
	if wantBytes >= 0 && (b != wantBytes || m != wantMessages) {
		t.Fatalf("usage %d bytes %d messages, want %d, %d", b, m, wantBytes, wantMessages)
	}
}

func TestDomainUsageFollowsUsers(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	a := newTestUser(t, s, "a@example.com")
	b := newTestUser(t, s, "b@example.com")
	other := newTestUser(t, s, "o@example.org")
	body := strings.Repeat("x", 98) + "\r\n" // 100 bytes

	steps := []struct {
		name   string
		do     func(t *testing.T)
		bytes  int64
		msgs   int64
		others int64 // messages of example.org
	}{
		{"empty", func(*testing.T) {}, 0, 0, 0},
		{"deliver to three", func(t *testing.T) {
			res, err := s.Deliver(ctx, Delivery{Targets: []DeliveryTarget{{UserID: a.ID}, {UserID: b.ID}, {UserID: other.ID}}, Body: strings.NewReader(body)})
			if err != nil || res[0].Err != nil || res[1].Err != nil || res[2].Err != nil {
				t.Fatal(res, err)
			}
		}, 200, 2, 1},
		{"append", func(t *testing.T) {
			if _, err := s.Append(ctx, a.ID, "Drafts", strings.NewReader(body), nil, time.Time{}); err != nil {
				t.Fatal(err)
			}
		}, 300, 3, 1},
		{"copy", func(t *testing.T) {
			inbox, _ := s.GetMailbox(ctx, a.ID, "INBOX")
			if _, err := s.CopyMessages(ctx, inbox.ID, nil, "Archive", false); err != nil {
				t.Fatal(err)
			}
		}, 400, 4, 1},
		{"move", func(t *testing.T) {
			drafts, _ := s.GetMailbox(ctx, a.ID, "Drafts")
			if _, err := s.CopyMessages(ctx, drafts.ID, nil, "Trash", true); err != nil {
				t.Fatal(err)
			}
		}, 400, 4, 1},
		{"expunge", func(t *testing.T) {
			trash, _ := s.GetMailbox(ctx, a.ID, "Trash")
			if _, err := s.StoreFlags(ctx, trash.ID, nil, FlagsAdd, []string{FlagDeleted}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Expunge(ctx, trash.ID, nil); err != nil {
				t.Fatal(err)
			}
		}, 300, 3, 1},
		{"delete messages", func(t *testing.T) {
			inbox, _ := s.GetMailbox(ctx, b.ID, "INBOX")
			if err := s.DeleteMessages(ctx, inbox.ID, []uint32{1}); err != nil {
				t.Fatal(err)
			}
		}, 200, 2, 1},
		{"delete mailbox", func(t *testing.T) {
			if err := s.DeleteMailbox(ctx, a.ID, "Archive"); err != nil {
				t.Fatal(err)
			}
		}, 100, 1, 1},
		{"delete user", func(t *testing.T) {
			if err := s.DeleteUser(ctx, "a@example.com"); err != nil {
				t.Fatal(err)
			}
		}, 0, 0, 1},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.do(t)
			checkDomainUsage(t, s, "example.com", st.bytes, st.msgs)
			checkDomainUsage(t, s, "example.org", st.others*100, st.others)
			// DeleteUser bypasses removeRows: the domain row itself must be right.
			d, err := s.GetDomain(ctx, "example.com")
			if err != nil || d.UsedBytes != st.bytes || d.UsedMessages != st.msgs {
				t.Fatalf("domain %+v %v", d, err)
			}
		})
	}
}

func TestDomainQuota(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	a := newTestUser(t, s, "a@example.com")
	b := newTestUser(t, s, "b@example.com")
	c := newTestUser(t, s, "c@example.org")
	if _, err := s.UpdateDomain(ctx, "example.com", DomainUpdate{QuotaBytes: ptr[int64](250)}); err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("x", 98) + "\r\n" // 100 bytes
	deliver := func(enforce bool, ids ...int64) []DeliveryResult {
		t.Helper()
		var ts []DeliveryTarget
		for _, id := range ids {
			ts = append(ts, DeliveryTarget{UserID: id})
		}
		res, err := s.Deliver(ctx, Delivery{Targets: ts, Body: strings.NewReader(body), EnforceQuota: enforce})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	tests := []struct {
		name    string
		enforce bool
		ids     []int64
		want    []error
	}{
		{"fits", true, []int64{a.ID, b.ID}, []error{nil, nil}},                        // 200 of 250
		{"third is over", true, []int64{a.ID, c.ID}, []error{core.ErrOverQuota, nil}}, // 300 > 250; other domain unaffected
		{"not enforced", false, []int64{b.ID}, []error{nil}},                          // 300
		{"still over", true, []int64{b.ID}, []error{core.ErrOverQuota}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := deliver(tt.enforce, tt.ids...)
			for i, want := range tt.want {
				if !errors.Is(res[i].Err, want) || want == nil && res[i].Err != nil {
					t.Fatalf("target %d: err = %v, want %v", i, res[i].Err, want)
				}
			}
		})
	}
	if _, err := s.Append(ctx, a.ID, "INBOX", strings.NewReader(body), nil, time.Time{}); !errors.Is(err, core.ErrOverQuota) {
		t.Fatalf("append over the domain quota: %v", err)
	}
	// Raising the domain quota lets mail in again.
	if _, err := s.UpdateDomain(ctx, "example.com", DomainUpdate{QuotaBytes: ptr[int64](0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, a.ID, "INBOX", strings.NewReader(body), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	checkDomainUsage(t, s, "example.com", 400, 4)
}

// TestDomainUsageCountedAfterUpgrade opens a store whose domains table
// predates the settings and usage columns.
func TestDomainUsageCountedAfterUpgrade(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Options{Dir: dir, Database: testdb.DSNIn(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, addr := range []string{"a@example.com", "b@example.com", "c@example.org"} {
		ids = append(ids, newTestUser(t, s, addr).ID)
	}
	if _, err := s.CreateDomain(ctx, "empty.example"); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, err := s.Append(ctx, id, "INBOX", strings.NewReader("Subject: x\r\n\r\nhello\r\n"), nil, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Back to the old schema.
	old, err := db.Open(context.Background(), testdb.DSNIn(t, dir), dir)
	if err != nil {
		t.Fatal(err)
	}
	wdb := old.Write
	for _, col := range []string{"default_quota_bytes", "max_quota_bytes", "quota_bytes", "max_users", "used_bytes", "used_messages", "usage_counted"} {
		if err := wdb.Exec("ALTER TABLE domains DROP COLUMN " + col).Error; err != nil {
			t.Fatal(err)
		}
	}
	// The old schema predates the version table too.
	if err := wdb.Exec("DROP TABLE schema_version").Error; err != nil {
		t.Fatal(err)
	}
	old.Close()

	s, err = Open(ctx, Options{Dir: dir, Database: testdb.DSNIn(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var uncounted int64
	if err := s.db.Model(&Domain{}).Where("usage_counted = ?", false).Count(&uncounted).Error; err != nil || uncounted != 3 {
		t.Fatalf("%d domains to count after the upgrade, want 3 (%v)", uncounted, err)
	}
	size := int64(len("Subject: x\r\n\r\nhello\r\n"))
	checkDomainUsage(t, s, "example.com", 2*size, 2)
	checkDomainUsage(t, s, "example.org", size, 1)
	checkDomainUsage(t, s, "empty.example", 0, 0)
	ds, err := s.ListDomains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if !d.UsageCounted || d.MaxUsers != 0 || d.QuotaBytes != 0 {
			t.Fatalf("domain after upgrade: %+v", d)
		}
	}
	// And kept from then on.
	if _, err := s.Append(ctx, ids[0], "INBOX", strings.NewReader("Subject: x\r\n\r\nhello\r\n"), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	checkDomainUsage(t, s, "example.com", 3*size, 3)
}

func TestUpdateDomainFilterSettings(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	if _, err := s.CreateDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	d, err := s.GetDomain(ctx, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	if d.DomainFilterSettings != (DomainFilterSettings{}) {
		t.Fatalf("new domain's filter settings %+v, want all null", d.DomainFilterSettings)
	}
	d, err = s.UpdateDomain(ctx, "example.com", DomainUpdate{
		SpamJunkScore: SetTo(3.5), SpamRejectScore: SetTo(8.0),
		SpamFilter: SetTo(false), VirusScan: SetTo(true), DMARCEnforce: SetTo(false),
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(d *Domain, junk, reject *float64, spamOn, virus, dmarc *bool) {
		t.Helper()
		f := d.DomainFilterSettings
		eqF := func(a, b *float64) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }
		eqB := func(a, b *bool) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }
		if !eqF(f.SpamJunkScore, junk) || !eqF(f.SpamRejectScore, reject) || !eqB(f.SpamFilter, spamOn) || !eqB(f.VirusScan, virus) || !eqB(f.DMARCEnforce, dmarc) {
			t.Errorf("filter settings %s", fmtFilterSettings(f))
		}
	}
	check(d, ptr(3.5), ptr(8.0), ptr(false), ptr(true), ptr(false))
	if d, err = s.GetDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	check(d, ptr(3.5), ptr(8.0), ptr(false), ptr(true), ptr(false))

	// Unset fields stay; SetNull goes back to the server's setting.
	if d, err = s.UpdateDomain(ctx, "example.com", DomainUpdate{SpamJunkScore: SetNull[float64](), VirusScan: SetNull[bool](), MaxUsers: ptr[int64](4)}); err != nil {
		t.Fatal(err)
	}
	check(d, nil, ptr(8.0), ptr(false), nil, ptr(false))
	if d, err = s.GetDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	check(d, nil, ptr(8.0), ptr(false), nil, ptr(false))
	if d.MaxUsers != 4 {
		t.Errorf("max users %d", d.MaxUsers)
	}

	for _, up := range []DomainUpdate{
		{SpamJunkScore: SetTo(0.0)},
		{SpamRejectScore: SetTo(-1.0)},
		{SpamRejectScore: SetTo(math.Inf(1))},
		{SpamJunkScore: SetTo(math.NaN())},
	} {
		if _, err := s.UpdateDomain(ctx, "example.com", up); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("update %s: err = %v, want ErrInvalid", fmtFilterSettings(DomainFilterSettings{SpamJunkScore: up.SpamJunkScore.Value, SpamRejectScore: up.SpamRejectScore.Value}), err)
		}
	}
	ds, err := s.ListDomains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 {
		t.Fatalf("domains %v", ds)
	}
	check(&ds[0], nil, ptr(8.0), ptr(false), nil, ptr(false))
}

func TestNullableJSON(t *testing.T) {
	var v struct {
		A Nullable[float64] `json:"a"`
		B Nullable[bool]    `json:"b"`
		C Nullable[bool]    `json:"c"`
	}
	if err := json.Unmarshal([]byte(`{"a": 2.5, "b": null}`), &v); err != nil {
		t.Fatal(err)
	}
	if !v.A.Set || v.A.Value == nil || *v.A.Value != 2.5 || !v.B.Set || v.B.Value != nil || v.C.Set {
		t.Errorf("decoded %+v", v)
	}
	if err := json.Unmarshal([]byte(`{"b": "yes"}`), &v); err == nil {
		t.Error("a string decoded as a bool")
	}
}

func fmtFilterSettings(f DomainFilterSettings) string {
	var b strings.Builder
	for _, p := range []struct {
		name string
		v    any
	}{{"junk", f.SpamJunkScore}, {"reject", f.SpamRejectScore}, {"spam", f.SpamFilter}, {"virus", f.VirusScan}, {"dmarc", f.DMARCEnforce}} {
		fmt.Fprintf(&b, "%s=", p.name)
		switch x := p.v.(type) {
		case *float64:
			if x != nil {
				fmt.Fprintf(&b, "%v ", *x)
				continue
			}
		case *bool:
			if x != nil {
				fmt.Fprintf(&b, "%v ", *x)
				continue
			}
		}
		b.WriteString("null ")
	}
	return b.String()
}
