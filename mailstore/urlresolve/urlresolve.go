// Package urlresolve resolves IMAP URLs (RFC 5092) that name a message or
// a part of one to their bytes in the mailstore, and keeps their URLAUTH
// keys (RFC 4467).
//
// It is the one implementation behind IMAP CATENATE (RFC 4469), GENURLAUTH,
// RESETKEY and URLFETCH (RFC 4467) and submission's BURL (RFC 4468): the
// IMAP server and the submission server adapt it to the interfaces they
// declare, so that a URL resolves, or is refused, the same way for both.
package urlresolve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/core/imapurl"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/imap/imapmsg"
)

// Errors wrap imapurl.imapurl.ErrBadURL for URLs that do not resolve for the
// requester, core.ErrTooLarge for content over the caller's limit.

// Resolver resolves URLs against a store. Whether an absolute URL names
// this server is for the caller to check (URL.OnServer), before.
type Resolver struct {
	store *mailstore.Store
	// Now gives the time URLAUTH expiry is checked against; nil means
	// time.Now.
	Now func() time.Time
}

// New returns a resolver over store.
func New(store *mailstore.Store) *Resolver {
	return &Resolver{store: store}
}

func badURL(format string, args ...any) error {
	return fmt.Errorf("%w: %s", imapurl.ErrBadURL, fmt.Sprintf(format, args...))
}

// Fetch returns the bytes u names for the requester. A URL with URLAUTH
// must verify for r (imapurl.Authorize); one without names a mailbox of
// r.User's own (its user, if any, must be r.User) and is refused to the
// submission server. The result is at most max bytes (0: no limit), else
// the error wraps core.ErrTooLarge.
func (rv *Resolver) Fetch(ctx context.Context, u *imapurl.URL, r imapurl.Requester, max int64) ([]byte, error) {
	owner := u.User
	if owner == "" {
		owner = r.User
	}
	if !u.HasURLAuth() && (r.Submit || r.User == "" || !strings.EqualFold(owner, r.User)) {
		return nil, badURL("URL without URLAUTH names a mailbox the requester does not own")
	}
	user, err := rv.store.GetUser(ctx, owner)
	if err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return nil, badURL("no user %q", owner)
		}
		return nil, fmt.Errorf("resolve URL: %w", err)
	}
	mb, err := rv.store.GetMailbox(ctx, user.ID, u.Mailbox)
	if err != nil {
		if errors.Is(err, core.ErrNotFound) || errors.Is(err, core.ErrInvalid) {
			return nil, badURL("no mailbox %q", u.Mailbox)
		}
		return nil, fmt.Errorf("resolve URL: %w", err)
	}
	if u.HasURLAuth() {
		key, err := rv.store.URLAuthKey(ctx, user.ID, mb.ID, false)
		if err != nil {
			if errors.Is(err, core.ErrNotFound) {
				return nil, badURL("mailbox has no URLAUTH key (reset)")
			}
			return nil, fmt.Errorf("resolve URL: %w", err)
		}
		if err := imapurl.Authorize(u, key, r, rv.now()); err != nil {
			return nil, fmt.Errorf("%w: %w", imapurl.ErrBadURL, err)
		}
	}
	if u.UIDValidity != 0 && u.UIDValidity != mb.UIDValidity {
		return nil, badURL("UIDVALIDITY %d is not the mailbox's", u.UIDValidity)
	}
	metas, err := rv.store.ListMessages(ctx, mb.ID, mailstore.UIDs(u.UID))
	if err != nil {
		return nil, fmt.Errorf("resolve URL: %w", err)
	}
	if len(metas) == 0 {
		return nil, badURL("no message with UID %d", u.UID)
	}
	m := &metas[0]
	if u.Section == nil && u.Partial == nil && max > 0 && m.Size > max {
		return nil, fmt.Errorf("%w: message of %d bytes", core.ErrTooLarge, m.Size)
	}
	raw, err := rv.read(ctx, m)
	if err != nil {
		return nil, err
	}
	data := raw
	if u.Section != nil {
		msg := imapmsg.Parse(raw)
		if !msg.HasPart(u.Section.Part) {
			return nil, badURL("message has no part %v", u.Section.Part)
		}
		data = msg.Section(fetchSection(u.Section))
	}
	if p := u.Partial; p != nil {
		n := uint64(len(data))
		start := min(uint64(p.Offset), n)
		end := n
		if p.Length > 0 {
			end = min(start+uint64(p.Length), n)
		}
		data = data[start:end]
	}
	if max > 0 && int64(len(data)) > max {
		return nil, fmt.Errorf("%w: %d bytes", core.ErrTooLarge, len(data))
	}
	return bytes.Clone(data), nil
}

// maxRead bounds a message read to resolve a URL.
const maxRead = 1 << 30

func (rv *Resolver) read(ctx context.Context, m *mailstore.MessageMeta) ([]byte, error) {
	if m.Size > maxRead {
		return nil, fmt.Errorf("%w: message of %d bytes", core.ErrTooLarge, m.Size)
	}
	rc, err := rv.store.OpenMessage(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("resolve URL: %w", err)
	}
	defer rc.Close()
	b := bytes.NewBuffer(make([]byte, 0, m.Size))
	if _, err := io.Copy(b, io.LimitReader(rc, maxRead)); err != nil {
		return nil, fmt.Errorf("resolve URL: read message: %w", err)
	}
	return b.Bytes(), nil
}

func fetchSection(s *imapurl.Section) *imap.FetchItemBodySection {
	fs := &imap.FetchItemBodySection{Part: s.Part}
	switch s.Specifier {
	case "HEADER":
		fs.Specifier = imap.PartSpecifierHeader
	case "HEADER.FIELDS":
		fs.Specifier, fs.HeaderFields = imap.PartSpecifierHeader, s.Fields
	case "HEADER.FIELDS.NOT":
		fs.Specifier, fs.HeaderFieldsNot = imap.PartSpecifierHeader, s.Fields
	case "TEXT":
		fs.Specifier = imap.PartSpecifierText
	case "MIME":
		fs.Specifier = imap.PartSpecifierMIME
	}
	return fs
}

// Sign returns the URLAUTH URL for a rump URL (GENURLAUTH): the owner,
// u.User, must be user (the requester signs only their own URLs) and the
// mailbox must exist; its key is made on first use.
func (rv *Resolver) Sign(ctx context.Context, userID int64, user string, u *imapurl.URL) (string, error) {
	if err := imapurl.CheckRump(u); err != nil {
		return "", fmt.Errorf("%w: %w", imapurl.ErrBadURL, err)
	}
	if !strings.EqualFold(u.User, user) {
		return "", badURL("URL of user %q signed by %q", u.User, user)
	}
	mb, err := rv.store.GetMailbox(ctx, userID, u.Mailbox)
	if err != nil {
		if errors.Is(err, core.ErrNotFound) || errors.Is(err, core.ErrInvalid) {
			return "", badURL("no mailbox %q", u.Mailbox)
		}
		return "", fmt.Errorf("sign URL: %w", err)
	}
	if u.UIDValidity != 0 && u.UIDValidity != mb.UIDValidity {
		return "", badURL("UIDVALIDITY %d is not the mailbox's", u.UIDValidity)
	}
	key, err := rv.store.URLAuthKey(ctx, userID, mb.ID, true)
	if err != nil {
		return "", fmt.Errorf("sign URL: %w", err)
	}
	return imapurl.Sign(u, key), nil
}

// ResetKeys replaces the user's URLAUTH key of a mailbox ("" for all of
// them), invalidating the URLs signed with it (RESETKEY).
func (rv *Resolver) ResetKeys(ctx context.Context, userID int64, mailbox string) error {
	var id int64
	if mailbox != "" {
		mb, err := rv.store.GetMailbox(ctx, userID, mailbox)
		if err != nil {
			return fmt.Errorf("reset URLAUTH key: %w", err)
		}
		id = mb.ID
	}
	return rv.store.ResetURLAuthKeys(ctx, userID, id)
}

func (rv *Resolver) now() time.Time {
	if rv.Now != nil {
		return rv.Now()
	}
	return time.Now()
}
