package imapmsg

import (
	"reflect"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// assertEnvelope compares envelopes, treating nil and empty lists alike.
func assertEnvelope(t *testing.T, got, want *imap.Envelope) {
	t.Helper()
	if got == nil {
		t.Fatalf("no envelope")
	}
	if !got.Date.Equal(want.Date) || got.Date.IsZero() != want.Date.IsZero() {
		t.Errorf("Date = %v, want %v", got.Date, want.Date)
	}
	if got.Subject != want.Subject {
		t.Errorf("Subject = %q, want %q", got.Subject, want.Subject)
	}
	lists := []struct {
		name      string
		got, want []imap.Address
	}{
		{"From", got.From, want.From},
		{"Sender", got.Sender, want.Sender},
		{"ReplyTo", got.ReplyTo, want.ReplyTo},
		{"To", got.To, want.To},
		{"Cc", got.Cc, want.Cc},
		{"Bcc", got.Bcc, want.Bcc},
	}
	for _, l := range lists {
		if len(l.got) != 0 || len(l.want) != 0 {
			if !reflect.DeepEqual(l.got, l.want) {
				t.Errorf("%s = %+v, want %+v", l.name, l.got, l.want)
			}
		}
	}
	if len(got.InReplyTo) != 0 || len(want.InReplyTo) != 0 {
		if !reflect.DeepEqual(got.InReplyTo, want.InReplyTo) {
			t.Errorf("InReplyTo = %q, want %q", got.InReplyTo, want.InReplyTo)
		}
	}
	if got.MessageID != want.MessageID {
		t.Errorf("MessageID = %q, want %q", got.MessageID, want.MessageID)
	}
}

func TestEnvelopeDirect(t *testing.T) {
	alice := []imap.Address{{Name: "Alice Example", Mailbox: "alice", Host: "example.com"}}
	tests := []struct {
		msg  string
		want imap.Envelope
	}{
		{"simple", imap.Envelope{
			Date:      time.Date(2006, 1, 2, 22, 4, 5, 0, time.UTC),
			Subject:   "Hello world",
			From:      alice,
			Sender:    alice,
			ReplyTo:   alice,
			To:        []imap.Address{{Name: "Bob", Mailbox: "bob", Host: "example.org"}, {Mailbox: "carol", Host: "example.net"}},
			Cc:        []imap.Address{{Name: "Doe, John", Mailbox: "john", Host: "example.com"}},
			InReplyTo: []string{"parent@example.com"},
			MessageID: "simple@example.com",
		}},
		{"encoded", imap.Envelope{
			Subject: "=?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=",
			From:    []imap.Address{{Name: "=?UTF-8?Q?J=C3=B6rg_M=C3=BCller?=", Mailbox: "joerg", Host: "example.de"}},
			Sender:  []imap.Address{{Name: "=?UTF-8?Q?J=C3=B6rg_M=C3=BCller?=", Mailbox: "joerg", Host: "example.de"}},
			ReplyTo: []imap.Address{{Name: "=?UTF-8?Q?J=C3=B6rg_M=C3=BCller?=", Mailbox: "joerg", Host: "example.de"}},
			To:      []imap.Address{{Name: "=?ISO-8859-1?Q?Andr=E9?=", Mailbox: "andre", Host: "example.fr"}},
		}},
		{"groups", imap.Envelope{
			Subject: "groups",
			From:    []imap.Address{{Name: "Bad Address", Mailbox: invalidMailbox, Host: invalidHost}},
			Sender:  []imap.Address{{Mailbox: missingMailbox, Host: missingHost}},
			ReplyTo: []imap.Address{{Mailbox: "nobody", Host: missingHost}},
			To:      []imap.Address{{Mailbox: "undisclosed-recipients"}, {}},
			Cc: []imap.Address{
				{Mailbox: "Team"}, {Mailbox: "a", Host: "example.com"}, {Name: "B", Mailbox: "b", Host: "example.com"}, {},
				{Mailbox: "c", Host: "example.com"},
			},
			Bcc: []imap.Address{{Mailbox: "@@", Host: missingHost}, {Mailbox: "foo", Host: missingHost}, {Mailbox: "real", Host: "example.com"}},
		}},
		{"digest", imap.Envelope{Subject: "digest"}},
		{"empty", imap.Envelope{}},
		{"deeprfc822", imap.Envelope{Subject: "level"}},
	}
	for _, tt := range tests {
		t.Run(tt.msg, func(t *testing.T) {
			assertEnvelope(t, Parse([]byte(corpusRaw(tt.msg))).Envelope(), &tt.want)
		})
	}
}

func TestParseAddressList(t *testing.T) {
	tests := []struct {
		in   string
		want []Address
	}{
		{"a@b.c", []Address{{Mailbox: "a", Host: "b.c"}}},
		{"A <a@b.c>", []Address{{Name: "A", Mailbox: "a", Host: "b.c"}}},
		{`"Last, First" <a@b.c>, x@y.z`, []Address{{Name: "Last, First", Mailbox: "a", Host: "b.c"}, {Mailbox: "x", Host: "y.z"}}},
		{`"quoted local"@b.c`, []Address{{Mailbox: `"quoted local"`, Host: "b.c"}}},
		{"a@b.c (Comment Name)", []Address{{Name: "Comment Name", Mailbox: "a", Host: "b.c"}}},
		{"John Q. Public <jqp@example.com>", []Address{{Name: "John Q. Public", Mailbox: "jqp", Host: "example.com"}}},
		{"<a@b.c", []Address{{Mailbox: "a", Host: "b.c"}}},
		{"G: ;", []Address{{Mailbox: "G"}, {}}},
		{"G: a@b.c", []Address{{Mailbox: "G"}, {Mailbox: "a", Host: "b.c"}, {}}},
		{": a@b.c;", []Address{{Mailbox: missingGroup}, {Mailbox: "a", Host: "b.c"}, {}}},
		{"<>", []Address{{Mailbox: missingMailbox, Host: missingHost}}},
		{"a@[127.0.0.1]", []Address{{Mailbox: "a", Host: "[127.0.0.1]"}}},
		{"x@y, , ,z@w", []Address{{Mailbox: "x", Host: "y"}, {Mailbox: "z", Host: "w"}}},
		{"Name With Spaces", []Address{{Name: "Name With Spaces", Mailbox: invalidMailbox, Host: invalidHost}}},
		{"a@b@c", []Address{{Mailbox: "a@b", Host: "c"}}},
		{`"unterminated <a@b.c>`, []Address{{Mailbox: `"unterminated <a@b.c>`, Host: missingHost}}},
		{"(unterminated comment a@b.c", nil},
		{"a\x00b@c", []Address{{Mailbox: "ab", Host: "c"}}},
		{"=?utf-8?q?J=C3=B6rg?= Müller <j@m>", []Address{{Name: "Jörg Müller", Mailbox: "j", Host: "m"}}},
		{"=?utf-8?q?J=C3=B6rg?= <j@m>", []Address{{Name: "=?utf-8?q?J=C3=B6rg?=", Mailbox: "j", Host: "m"}}},
		{"", nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := parseAddressList(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseAddressList(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseDate(t *testing.T) {
	z := func(h, m int) *time.Location { return time.FixedZone("", h*3600+m*60) }
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"Mon, 02 Jan 2006 15:04:05 -0700", time.Date(2006, 1, 2, 15, 4, 5, 0, z(-7, 0)), true},
		{"2 Jan 2006 15:04 +0530", time.Date(2006, 1, 2, 15, 4, 0, 0, z(5, 30)), true},
		{"Mon, 2 Jan 06 15:04:05 GMT", time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC), true},
		{"Mon, 2 Jan 99 15:04:05 EST", time.Date(1999, 1, 2, 15, 4, 5, 0, z(-5, 0)), true},
		{"Mon Jan  2 15:04:05 2006", time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC), true},
		{"2006-01-02 15:04:05", time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC), true},
		{"02-Jan-2006", time.Date(2006, 1, 2, 0, 0, 0, 0, time.UTC), true},
		{"Tue, 3 January 2006 10:00:00 +0000 (UTC)", time.Date(2006, 1, 3, 10, 0, 0, 0, time.UTC), true},
		{"Mon,2 Jan 2006 23:59:60 -0000", time.Date(2006, 1, 2, 23, 59, 59, 0, time.UTC), true},
		{"Mon, 02 Jan 2006 15:04:05.123 +0100", time.Date(2006, 1, 2, 15, 4, 5, 0, z(1, 0)), true},
		{"garbage", time.Time{}, false},
		{"", time.Time{}, false},
		{"Jan 2006", time.Time{}, false},
		{"32 Jan 2006", time.Time{}, false},
		{"2 Jan 2006 25:00:00", time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseDate(tt.in)
			if ok != tt.ok || !got.Equal(tt.want) {
				t.Errorf("parseDate(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
			if ok {
				_, off := got.Zone()
				_, wantOff := tt.want.Zone()
				if off != wantOff {
					t.Errorf("zone offset = %d, want %d", off, wantOff)
				}
			}
		})
	}
}
