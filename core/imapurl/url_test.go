package imapurl

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want URL
	}{
		{"/INBOX;UIDVALIDITY=785799047/;UID=113330/;SECTION=1.5.9",
			URL{Mailbox: "INBOX", UIDValidity: 785799047, UID: 113330, Section: &Section{Part: []int{1, 5, 9}}}},
		{"/Drafts/;UID=20/;section=HEADER", URL{Mailbox: "Drafts", UID: 20, Section: &Section{Specifier: "HEADER"}}},
		{"/Work/Projects;UIDVALIDITY=3/;UID=2/;SECTION=2.MIME/;PARTIAL=10.20",
			URL{Mailbox: "Work/Projects", UIDValidity: 3, UID: 2, Section: &Section{Part: []int{2}, Specifier: "MIME"}, Partial: &Partial{Offset: 10, Length: 20}}},
		{"/Entw%C3%BCrfe/;UID=1/;PARTIAL=5", URL{Mailbox: "Entwürfe", UID: 1, Partial: &Partial{Offset: 5}}},
		{"/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20(To%20From)",
			URL{Mailbox: "INBOX", UID: 1, Section: &Section{Specifier: "HEADER.FIELDS", Fields: []string{"To", "From"}}}},
		{"imap://fred@example.com/INBOX;UIDVALIDITY=1/;UID=7",
			URL{Absolute: true, User: "fred", Host: "example.com", Mailbox: "INBOX", UIDValidity: 1, UID: 7}},
		{"imap://a%40b.test;AUTH=*@[::1]:143/INBOX/;UID=7/;SECTION=TEXT",
			URL{Absolute: true, User: "a@b.test", Auth: "*", Host: "[::1]", Port: "143", Mailbox: "INBOX", UID: 7, Section: &Section{Specifier: "TEXT"}}},
		{"imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred",
			URL{Absolute: true, User: "joe", Host: "example.com", Mailbox: "INBOX", UID: 20, Section: &Section{Part: []int{1, 2}}, Access: "submit+fred", AccessUser: "fred"}},
		{"imap://joe@example.com/INBOX/;UID=20;EXPIRE=2026-12-07T10:00:00Z;URLAUTH=anonymous:internal:91354a473744909de610943775f92038",
			URL{Absolute: true, User: "joe", Host: "example.com", Mailbox: "INBOX", UID: 20, Expire: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC),
				Access: "anonymous", Mechanism: "INTERNAL", Token: "91354a473744909de610943775f92038"}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		tt.want.raw, tt.want.rumpEnd = got.raw, got.rumpEnd
		if !reflect.DeepEqual(*got, tt.want) {
			t.Errorf("Parse(%q) = %+v, want %+v", tt.in, *got, tt.want)
		}
	}
}

func TestParseRump(t *testing.T) {
	u, err := Parse("imap://joe@example.com/INBOX/;UID=20;URLAUTH=user+fred:INTERNAL:91354a473744909de610943775f92038")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.Rump(), "imap://joe@example.com/INBOX/;UID=20;URLAUTH=user+fred"; got != want {
		t.Errorf("Rump() = %q, want %q", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	bad := []string{
		"", "INBOX", "imap://", "imap://host", "imap://host/", "/INBOX", "/INBOX;UIDVALIDITY=0/;UID=1",
		"/INBOX/;UID=0", "/INBOX/;UID=01", "/INBOX/;UID=4294967296", "/INBOX/;UID=1/;SECTION=0",
		"/INBOX/;UID=1/;SECTION=1.MIMEX", "/INBOX/;UID=1/;SECTION=MIME", "/INBOX/;UID=1/;SECTION=HEADER.FIELDS",
		"/INBOX/;UID=1/;PARTIAL=1.0", "/INBOX/;UID=1;URLAUTH=anonymous", "/IN%ZZBOX/;UID=1", "/IN%00BOX/;UID=1",
		"/IN%FFBOX/;UID=1", "/IN BOX/;UID=1", "imap://u@h/INBOX/;UID=1;URLAUTH=nobody",
		"imap://u@h/INBOX/;UID=1;URLAUTH=anonymous:INTERNAL:abc", "imap://u@h/INBOX/;UID=1;EXPIRE=tomorrow;URLAUTH=anonymous",
		"imap://u@h/INBOX/;UID=1;junk", "imap://u@h:99999/INBOX/;UID=1", "/INBOX/;UID=1/;SECTION=1..2",
	}
	for _, s := range bad {
		if u, err := Parse(s); !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) = %+v, %v; want a syntax error", s, u, err)
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	for _, name := range []string{"INBOX", "Entwürfe", "a;b?c#d e%f", "Work/Projects"} {
		u, err := Parse("/" + Encode(name) + "/;UID=1")
		if err != nil || u.Mailbox != name {
			t.Errorf("round trip of %q: %+v, %v", name, u, err)
		}
	}
}

func TestAuthorize(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	sign := func(rump string) *URL {
		t.Helper()
		u, err := Parse(rump)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckRump(u); err != nil {
			t.Fatal(err)
		}
		s, err := Parse(Sign(u, key))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	base := "imap://joe@h/INBOX/;UID=1"
	tests := []struct {
		url  *URL
		key  []byte
		r    Requester
		want error
	}{
		{sign(base + ";URLAUTH=user+fred"), key, Requester{User: "fred"}, nil},
		{sign(base + ";URLAUTH=user+fred"), key, Requester{User: "FRED"}, nil},
		{sign(base + ";URLAUTH=user+fred"), key, Requester{User: "joe"}, ErrAccess},
		{sign(base + ";URLAUTH=user+fred"), key, Requester{User: "fred", Submit: true}, ErrAccess},
		{sign(base + ";URLAUTH=submit+fred"), key, Requester{User: "fred", Submit: true}, nil},
		{sign(base + ";URLAUTH=submit+fred"), key, Requester{User: "fred"}, ErrAccess},
		{sign(base + ";URLAUTH=authuser"), key, Requester{User: "anyone"}, nil},
		{sign(base + ";URLAUTH=authuser"), key, Requester{}, ErrAccess},
		{sign(base + ";URLAUTH=anonymous"), key, Requester{}, nil},
		{sign(base + ";URLAUTH=anonymous"), bytes.Repeat([]byte{8}, KeySize), Requester{}, ErrBadToken},
		{sign(base + ";EXPIRE=2026-12-07T09:00:00Z;URLAUTH=anonymous"), key, Requester{}, ErrExpired},
		{sign(base + ";EXPIRE=2026-12-07T10:00:00+01:00;URLAUTH=anonymous"), key, Requester{}, ErrExpired},
		{sign(base + ";EXPIRE=2026-12-07T09:00:01Z;URLAUTH=anonymous"), key, Requester{}, nil},
	}
	for i, tt := range tests {
		if err := Authorize(tt.url, tt.key, tt.r, now); !errors.Is(err, tt.want) {
			t.Errorf("%d: Authorize(%s, %+v) = %v, want %v", i, tt.url, tt.r, err, tt.want)
		}
	}
	// A changed URL no longer verifies.
	u := sign(base + ";URLAUTH=anonymous")
	forged, err := Parse(strings.Replace(u.String(), "UID=1", "UID=2", 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := Authorize(forged, key, Requester{}, now); !errors.Is(err, ErrBadToken) {
		t.Errorf("forged URL: %v, want ErrBadToken", err)
	}
	rump, _ := Parse(base + ";URLAUTH=anonymous")
	if err := Authorize(rump, key, Requester{}, now); !errors.Is(err, ErrNotSigned) {
		t.Errorf("rump: %v, want ErrNotSigned", err)
	}
	plain, _ := Parse(base)
	if err := Authorize(plain, key, Requester{}, now); !errors.Is(err, ErrNoURLAuth) {
		t.Errorf("plain: %v, want ErrNoURLAuth", err)
	}
}
