package imapmsg

import (
	"fmt"
	"mime"
	"strconv"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/core/mimetext"
)

// quoteString is a minimal nstring writer for AppendIMAP, as a server
// without UTF8=ACCEPT writes strings: text with 8-bit characters is RFC 2047
// encoded, then written as a quoted string if it has only printable ASCII
// and as a literal otherwise (RFC 9051 §4.3).
func quoteString(dst []byte, s string, text bool) []byte {
	for i := 0; text && i < len(s); i++ {
		if s[i] >= 0x80 {
			s = mime.QEncoding.Encode("utf-8", s)
			break
		}
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c >= 0x7f {
			dst = append(dst, '{')
			dst = strconv.AppendInt(dst, int64(len(s)), 10)
			dst = append(dst, "}\r\n"...)
			return append(dst, s...)
		}
	}
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}

func TestSourceRoute(t *testing.T) {
	tests := []struct {
		in   string
		want []Address
	}{
		{"<@a.example,@b.example:user@c.example>", []Address{{Route: "@a.example,@b.example", Mailbox: "user", Host: "c.example"}}},
		{"Name <@a , @b (relay) : u@d>", []Address{{Name: "Name", Route: "@a,@b", Mailbox: "u", Host: "d"}}},
		{"<,@a,,@b:u@d>", []Address{{Route: "@a,@b", Mailbox: "u", Host: "d"}}},
		{"<@[192.0.2.1]:u@d>", []Address{{Route: "@[192.0.2.1]", Mailbox: "u", Host: "d"}}},
		{"<foo:bar@x>", []Address{{Mailbox: "bar", Host: "x"}}},
		{"<@:u@d>", []Address{{Mailbox: "u", Host: "d"}}},
		{"<@a@b:u@d>", []Address{{Mailbox: "u", Host: "d"}}},
		{"<a@b>", []Address{{Mailbox: "a", Host: "b"}}},
		{"G: <@r:u@d>;", []Address{{Mailbox: "G"}, {Route: "@r", Mailbox: "u", Host: "d"}, {}}},
	}
	for _, tt := range tests {
		if got := parseAddressList(tt.in); fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("parseAddressList(%q) =\n %+v\nwant\n %+v", tt.in, got, tt.want)
		}
	}
}

func TestEnvelopeStructure(t *testing.T) {
	raw := crlf(
		"Date: Mon, 02 Jan 2006 15:04:05 -0700 (MST)",
		"Subject: =?UTF-8?Q?caf=C3=A9?= \"quoted\"",
		"From: Alice <@relay.example:alice@example.com>",
		"To: undisclosed:;, bob@example.org",
		"Cc: Zoë <zoe@example.com>",
		"In-Reply-To: <parent@example.com>",
		"Message-ID: <m1@example.com>",
		"",
		"body",
	)
	env := EnvelopeOf([]byte(raw))
	got := string(env.AppendIMAP(nil, quoteString))
	want := `("Mon, 02 Jan 2006 15:04:05 -0700 (MST)" "=?UTF-8?Q?caf=C3=A9?= \"quoted\"" ` +
		`(("Alice" "@relay.example" "alice" "example.com")) ` +
		`(("Alice" "@relay.example" "alice" "example.com")) ` +
		`(("Alice" "@relay.example" "alice" "example.com")) ` +
		`((NIL NIL "undisclosed" NIL)(NIL NIL NIL NIL)(NIL NIL "bob" "example.org")) ` +
		`(("=?utf-8?q?Zo=C3=AB?=" NIL "zoe" "example.com")) NIL "<parent@example.com>" "<m1@example.com>")`
	if got != want {
		t.Errorf("ENVELOPE =\n%s\nwant\n%s", got, want)
	}
	if m := Parse([]byte(raw)); fmt.Sprint(m.EnvelopeStructure()) != fmt.Sprint(env) {
		t.Errorf("Message.EnvelopeStructure differs from EnvelopeOf")
	}
	// go-imap's envelope has no route but the same addresses.
	if e := Parse([]byte(raw)).Envelope(); e.From[0].Mailbox != "alice" || e.From[0].Host != "example.com" {
		t.Errorf("go-imap envelope From = %+v", e.From)
	}

	empty := string(EnvelopeOf(nil).AppendIMAP(nil, quoteString))
	if empty != "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" {
		t.Errorf("empty ENVELOPE = %s", empty)
	}
}

// FuzzEnvelopeStructure checks that any header gives an envelope whose
// wire form has balanced parentheses and ten fields, and that header keys
// for SORT, THREAD and address SEARCH never panic.
func FuzzEnvelopeStructure(f *testing.F) {
	for _, c := range corpus {
		if len(c.raw) < 64*1024 {
			f.Add([]byte(c.raw), "a")
		}
	}
	f.Add([]byte("From: <@a,@b:u@d>\r\nTo: (((\r\nCc: \"\\\r\n\r\n"), "u@d")
	f.Add([]byte("From: =?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?= <jp@example.jp>\r\nSubject: =?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?=\r\n\r\n"), "こんにちは")
	f.Add([]byte("From: \x1b$B$3$s\x1b(B <@:@@>\r\nReferences: <<<>>> <a@b\r\n\r\n"), "")
	f.Fuzz(func(t *testing.T, data []byte, needle string) {
		env := EnvelopeOf(data)
		out := string(env.AppendIMAP(nil, quoteString))
		if !strings.HasPrefix(out, "(") || !strings.HasSuffix(out, ")") {
			t.Fatalf("not a list: %s", out)
		}
		for _, list := range [][]Address{env.From, env.Sender, env.ReplyTo, env.To, env.Cc, env.Bcc} {
			for _, a := range list {
				if a.Route != "" && !strings.HasPrefix(a.Route, "@") {
					t.Fatalf("route %q", a.Route)
				}
			}
		}
		SortKeyOf(data, nil)
		ThreadInfoOf(data)
		v := string(data)
		MatchAddressField(v, needle)
		for _, a := range parseAddressList(v) {
			if isLocalPart(a.Mailbox) && isDomain(a.Host) {
				if addr := mimetext.DecodeHeader(a.Mailbox) + "@" + a.Host; !MatchAddressField(v, addr) {
					t.Fatalf("%q does not match its own address %q", v, addr)
				}
			}
			if name := strings.TrimSpace(mimetext.DecodeHeader(a.Name)); name != "" && !a.isGroupMarker() && !MatchAddressField(v, name) {
				t.Fatalf("%q does not match its own name %q", v, name)
			}
		}
		if !MatchAddressField(v, "") {
			t.Fatalf("empty needle did not match")
		}
	})
}
