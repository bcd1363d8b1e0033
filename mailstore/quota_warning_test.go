package mailstore

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/testdb"
)

// warnings returns the subjects of the quota warnings in the user's INBOX.
func warnings(t *testing.T, s *Store, u *User) []string {
	t.Helper()
	ctx := context.Background()
	mb, err := s.GetMailbox(ctx, u.ID, Inbox)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := s.ListMessages(ctx, mb.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := range ms {
		m, err := mail.ReadMessage(strings.NewReader(readBody(t, s, &ms[i])))
		if err != nil {
			t.Fatal(err)
		}
		if m.Header.Get("Auto-Submitted") != "auto-generated" {
			continue
		}
		subj, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, subj)
	}
	return out
}

func TestQuotaWarningLevels(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	u := newTestUser(t, s, "ann@example.com")
	q := int64(10_000)
	if _, err := s.UpdateUser(ctx, u.Address, UserUpdate{QuotaBytes: &q}); err != nil {
		t.Fatal(err)
	}
	deliver := func(n int) (MessageMeta, error) {
		body := "Subject: x\r\n\r\n" + strings.Repeat("y", n-len("Subject: x\r\n\r\n"))
		res, err := s.Deliver(ctx, Delivery{Targets: []DeliveryTarget{{UserID: u.ID}}, Body: strings.NewReader(body), EnforceQuota: true})
		if err != nil {
			return MessageMeta{}, err
		}
		if res[0].Err != nil {
			return MessageMeta{}, res[0].Err
		}
		return MessageMeta{UID: res[0].UID}, nil
	}
	want := func(subjects ...string) {
		t.Helper()
		got := warnings(t, s, u)
		if strings.Join(got, "|") != strings.Join(subjects, "|") {
			t.Fatalf("warnings %q, want %q", got, subjects)
		}
	}
	first, err := deliver(7000)
	if err != nil {
		t.Fatal(err)
	}
	want()
	if _, err := deliver(1000); err != nil { // 80%
		t.Fatal(err)
	}
	want("Your mailbox is 80% full")
	if _, err := deliver(500); err != nil { // 85% and the warning: no second one
		t.Fatal(err)
	}
	want("Your mailbox is 80% full")
	// The warning itself is outside the quota check, but counted: 8000
	// bytes of mail, the warning, 500 and now 400 bytes pass 95%.
	if _, err := deliver(400); err != nil {
		t.Fatal(err)
	}
	ws := warnings(t, s, u)
	if len(ws) != 2 || ws[1] != "Your mailbox is 95% full" {
		t.Fatalf("warnings %q after 95%%", ws)
	}
	// Expunging below 80% re-arms both levels.
	mb, _ := s.GetMailbox(ctx, u.ID, Inbox)
	if err := s.DeleteMessages(ctx, mb.ID, []uint32{first.UID}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetUser(ctx, u.Address)
	if got.QuotaWarningPercent != 0 {
		t.Fatalf("after expunging to %d of %d bytes: warning level %d", got.UsedBytes, got.QuotaBytes, got.QuotaWarningPercent)
	}
	if _, err := deliver(int(8000 - got.UsedBytes - 1)); err != nil { // 1 byte short
		t.Fatal(err)
	}
	if ws := warnings(t, s, u); len(ws) != 2 {
		t.Fatalf("warnings %q below 80%%", ws)
	}
	if _, err := deliver(100); err != nil {
		t.Fatal(err)
	}
	if ws := warnings(t, s, u); len(ws) != 3 || ws[2] != "Your mailbox is 80% full" {
		t.Fatalf("warnings %q after crossing again", ws)
	}

	// Japanese, from the account's language, encoded; and the domain's
	// levels.
	ja := "ja"
	if _, err := s.UpdateUser(ctx, u.Address, UserUpdate{Language: &ja}); err != nil {
		t.Fatal(err)
	}
	levels := Percents{99, 10, 10}
	d, err := s.UpdateDomain(ctx, "example.com", DomainUpdate{QuotaWarningPercents: &levels})
	if err != nil || len(d.QuotaWarningPercents) != 2 || d.QuotaWarningPercents[0] != 10 {
		t.Fatalf("levels %v, %v", d, err)
	}
	bad := Percents{0}
	if _, err := s.UpdateDomain(ctx, "example.com", DomainUpdate{QuotaWarningPercents: &bad}); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("level 0: %v", err)
	}
	fr := "fr"
	if _, err := s.UpdateDomain(ctx, "example.com", DomainUpdate{Language: &fr}); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("language fr: %v", err)
	}
	bigger := int64(1_000_000)
	if _, err := s.UpdateUser(ctx, u.Address, UserUpdate{QuotaBytes: &bigger}); err != nil { // re-arms: ~1%
		t.Fatal(err)
	}
	small := int64(20_000)
	if _, err := s.UpdateUser(ctx, u.Address, UserUpdate{QuotaBytes: &small}); err != nil { // lowered: past 10%
		t.Fatal(err)
	}
	ws = warnings(t, s, u)
	if len(ws) != 4 || ws[3] != "メールボックスの使用量が10%に達しました" {
		t.Fatalf("warnings %q after lowering the quota", ws)
	}
}

func TestQuotaWarningMessage(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	w := quotaWarningInfo{address: "ann@example.com", domain: "example.com", domainLanguage: "ja", level: 95,
		usage: quotaUsage{quotaBytes: 10 << 20, usedBytes: 9<<20 + 600<<10, quotaMessages: 1000, usedMessages: 10}}
	msg := quotaWarningMessage(w, now)
	m, err := mail.ReadMessage(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"Content-Type": "text/plain; charset=utf-8", "Content-Transfer-Encoding": "base64", "Content-Language": "ja", "Auto-Submitted": "auto-generated", "To": "<ann@example.com>"} {
		if got := m.Header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	from, err := m.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "postmaster@example.com" || from[0].Name != "ポストマスター" {
		t.Errorf("From %v, %v", from, err)
	}
	for _, line := range strings.Split(msg, "\r\n") {
		if len(line) > 78 {
			t.Errorf("line of %d octets: %q", len(line), line)
		}
		for _, c := range []byte(line) {
			if c >= 0x80 {
				t.Fatalf("8-bit header or body line %q", line)
			}
		}
	}
	body, _ := io.ReadAll(m.Body)
	dec, err := decodeBase64Lines(string(body))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dec, "メールボックス ann@example.com の使用量が容量の95%（10.0 MiB中9.6 MiB）に達しました。") {
		t.Errorf("body %q", dec)
	}
	// English without languages anywhere; the message quota binds.
	w.domainLanguage = ""
	w.usage.usedMessages = 990
	msg = quotaWarningMessage(w, now)
	if !strings.Contains(msg, "Subject: Your mailbox is 95% full\r\n") || !strings.Contains(msg, "Your mailbox ann@example.com has reached 99% of its quota: 990 of 1000 messages.") {
		t.Errorf("English warning %q", msg)
	}
}

func decodeBase64Lines(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(s))
	return string(b), err
}

// TestQuotaWarningSurvivesRestart: the record of a warning is in the
// database, so a store opened again does not warn a second time.
func TestQuotaWarningSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Options{Dir: dir, Database: testdb.DSNIn(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	u := newTestUser(t, s, "ann@example.com")
	q := int64(10_000)
	if _, err := s.UpdateUser(ctx, u.Address, UserUpdate{QuotaBytes: &q}); err != nil {
		t.Fatal(err)
	}
	deliver := func(s *Store, n int) {
		t.Helper()
		res, err := s.Deliver(ctx, Delivery{Targets: []DeliveryTarget{{UserID: u.ID}}, Body: strings.NewReader("Subject: x\r\n\r\n" + strings.Repeat("y", n)), EnforceQuota: true})
		if err != nil || res[0].Err != nil {
			t.Fatalf("deliver: %v %+v", err, res)
		}
	}
	deliver(s, 4100)
	deliver(s, 4100) // 82%
	if ws := warnings(t, s, u); len(ws) != 1 {
		t.Fatalf("warnings %q", ws)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, Options{Dir: dir, Database: testdb.DSNIn(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	deliver(s, 100) // still between 80% and 95%
	if ws := warnings(t, s, u); len(ws) != 1 {
		t.Fatalf("warnings after a restart %q", ws)
	}
}

// FuzzPercents: any stored value reads without panicking, and a list that
// reads and normalizes is written back as the same list.
func FuzzPercents(f *testing.F) {
	for _, s := range []string{"80,95", "", " 10 , 20 ", "101", "-1", "1,,2", "x", "99999999999999999999", "5,4,3,2,1,0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var p Percents
		if err := p.Scan(s); err != nil {
			return
		}
		n, err := p.Normalized()
		if err != nil {
			return
		}
		v, err := n.Value()
		if err != nil {
			t.Fatal(err)
		}
		var back Percents
		if err := back.Scan(v); err != nil || !slices.Equal(back, n) {
			t.Fatalf("%q → %v → %q → %v, %v", s, n, v, back, err)
		}
		for i, x := range n {
			if x < 1 || x > 100 || i > 0 && n[i-1] >= x {
				t.Fatalf("normalized %v", n)
			}
		}
	})
}
