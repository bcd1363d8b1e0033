package service

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/yubinmail/yubin/mailstore"
)

// noticeNewPlace records where the user with ID userID signed in from and,
// when it is a new place and the server's setting asks for it, puts a
// notice in their INBOX. Failures are logged: they never stop a sign-in.
func (s *Service) noticeNewPlace(ctx context.Context, userID int64, ci ClientInfo) {
	ip, err := netip.ParseAddr(ci.RemoteIP)
	if err != nil {
		return
	}
	isNew, err := s.store.RecordSignInPlace(ctx, userID, ip)
	if err != nil {
		s.log.Warn("record sign-in place", "user", userID, "err", err)
		return
	}
	if !isNew {
		return
	}
	p, err := s.store.GetSecurityPolicy(ctx)
	if err != nil || !p.NotifyNewSignIn {
		return
	}
	u, err := s.store.GetUserByID(ctx, userID)
	if err != nil {
		return
	}
	if _, err := s.store.Append(ctx, u.ID, mailstore.Inbox, strings.NewReader(newPlaceNotice(u.Address, ci, time.Now())), nil, time.Now()); err != nil {
		s.log.Warn("deliver sign-in notice", "user", u.Address, "err", err)
	}
}

// newPlaceNotice is the message that tells address about a sign-in from a
// new place, in English and Japanese.
func newPlaceNotice(address string, ci ClientInfo, at time.Time) string {
	agent := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, ci.UserAgent)
	if agent == "" {
		agent = "-"
	}
	domain := domainOf(address)
	when := at.UTC().Format("2006-01-02 15:04:05 UTC")
	var b strings.Builder
	fmt.Fprintf(&b, "From: Yubin <postmaster@%s>\r\n", domain)
	fmt.Fprintf(&b, "To: <%s>\r\n", address)
	b.WriteString("Subject: New sign-in to your mail account\r\n")
	fmt.Fprintf(&b, "Date: %s\r\n", at.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <sign-in.%d.%s@%s>\r\n", at.UnixNano(), strings.ReplaceAll(address, "@", "."), domain)
	b.WriteString("Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	fmt.Fprintf(&b, "Your account %s was signed in to from a new place.\r\n\r\n", address)
	fmt.Fprintf(&b, "  When:    %s\r\n  From:    %s\r\n  Browser: %s\r\n\r\n", when, ci.RemoteIP, agent)
	b.WriteString("If this was you, there is nothing to do. If not, change your password and sign the session\r\n")
	b.WriteString("out under My account (Where you are signed in).\r\n\r\n")
	fmt.Fprintf(&b, "アカウント %s に新しい場所からサインインがありました。\r\n", address)
	fmt.Fprintf(&b, "日時: %s / 接続元: %s\r\n", when, ci.RemoteIP)
	b.WriteString("心当たりがない場合は、パスワードを変更し、「アカウント」の「サインイン中の場所」からそのセッションをサインアウトしてください。\r\n")
	return b.String()
}
