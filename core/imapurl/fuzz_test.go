package imapurl

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that every error is a syntax
// error, and that what it accepts is consistent: the rump is a prefix of
// the URL, and a parsed section re-parses.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"/INBOX;UIDVALIDITY=785799047/;UID=113330/;SECTION=1.5.9",
		"/Drafts/;UID=20/;SECTION=HEADER.FIELDS%20(To)/;PARTIAL=0.10",
		"imap://joe@example.com/INBOX/;UID=20;EXPIRE=2026-12-07T10:00:00Z;URLAUTH=submit+fred:INTERNAL:91354a473744909de610943775f92038",
		"imap://a%40b;AUTH=*@[::1]:143/Entw%C3%BCrfe/;UID=1/;SECTION=2.MIME",
		"//host/INBOX/;UID=1;URLAUTH=anonymous", "/;UID=1", "imap://@/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse(%q): error %v is not ErrSyntax", s, err)
			}
			return
		}
		if u.String() != s || !strings.HasPrefix(s, u.Rump()) || u.UID == 0 || u.Mailbox == "" {
			t.Fatalf("Parse(%q) = %+v: inconsistent", s, u)
		}
		if (u.Access != "") != (u.Rump() != "") {
			t.Fatalf("Parse(%q): access %q but rump %q", s, u.Access, u.Rump())
		}
		if u.HasURLAuth() {
			if _, err := Parse(u.Rump()); err != nil {
				t.Fatalf("rump of %q does not parse: %v", s, err)
			}
		}
	})
}
