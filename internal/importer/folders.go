package importer

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
)

// wellKnownNames are the top-level folder names that mean a special use
// on servers that do not announce one (RFC 6154 predates many of them).
var wellKnownNames = map[string]string{
	"sent": `\Sent`, "sent items": `\Sent`, "sent messages": `\Sent`, "sent mail": `\Sent`,
	"drafts": `\Drafts`, "draft": `\Drafts`,
	"trash": `\Trash`, "deleted items": `\Trash`, "deleted messages": `\Trash`, "bin": `\Trash`,
	"junk": `\Junk`, "spam": `\Junk`, "junk e-mail": `\Junk`, "junk email": `\Junk`, "bulk mail": `\Junk`,
	"archive": `\Archive`, "archives": `\Archive`,
}

// virtualUses are the special uses of folders whose messages are all in
// other folders too: importing them would copy mail twice.
var virtualUses = []string{`\All`, `\Flagged`}

// skipFolder reports whether f is a virtual folder left out of imports.
func skipFolder(f Folder) bool {
	for _, u := range virtualUses {
		if strings.EqualFold(f.SpecialUse, u) {
			return true
		}
	}
	return false
}

// mailboxMap maps a source's folders to the user's mailboxes.
type mailboxMap struct {
	byUse map[string]string // special use (lower case) → our mailbox
}

func newMailboxMap(boxes []mailstore.Mailbox) *mailboxMap {
	m := &mailboxMap{byUse: map[string]string{}}
	for _, b := range boxes {
		if b.SpecialUse != "" {
			if _, ok := m.byUse[strings.ToLower(b.SpecialUse)]; !ok {
				m.byUse[strings.ToLower(b.SpecialUse)] = b.Name
			}
		}
	}
	return m
}

// target returns the name of our mailbox for f.
func (m *mailboxMap) target(f Folder) string {
	if len(f.Path) == 0 || len(f.Path) == 1 && strings.EqualFold(f.Path[0], mailstore.Inbox) {
		return mailstore.Inbox
	}
	use := f.SpecialUse
	if use == "" && len(f.Path) == 1 {
		use = wellKnownNames[strings.ToLower(f.Path[0])]
	}
	if use != "" {
		if name, ok := m.byUse[strings.ToLower(use)]; ok {
			return name
		}
	}
	return MailboxName(f.Path)
}

// MailboxName joins a folder's hierarchy into a mailbox name of ours: a
// level that holds our delimiter has it replaced, empty levels and
// characters mailbox names may not hold are replaced with "_".
func MailboxName(path []string) string {
	levels := make([]string, 0, len(path))
	for _, p := range path {
		p = strings.Map(func(r rune) rune {
			if r == mailstore.Delimiter || r < 0x20 || r == 0x7f || r == '*' || r == '%' {
				return '_'
			}
			return r
		}, p)
		if p == "" {
			p = "_"
		}
		levels = append(levels, p)
	}
	name := strings.Join(levels, string(mailstore.Delimiter))
	if n, err := mailstore.CanonicalMailboxName(name); err == nil {
		return n
	}
	return name
}

// ensureMailbox creates (and subscribes) our mailbox name if it is missing.
func ensureMailbox(ctx context.Context, store Store, userID int64, name string) error {
	if _, err := store.GetMailbox(ctx, userID, name); err == nil {
		return nil
	} else if !errors.Is(err, core.ErrNotFound) {
		return err
	}
	if _, err := store.CreateMailbox(ctx, userID, name, ""); err != nil && !errors.Is(err, core.ErrExists) {
		return err
	}
	if err := store.SetSubscribed(ctx, userID, name, true); err != nil {
		return fmt.Errorf("subscribe to %q: %w", name, err)
	}
	return nil
}

// importableFlags keeps the flags the mailstore can hold: the system
// flags but \Recent, and the keywords that are valid atoms (a source's
// other keywords are dropped, not the message).
func importableFlags(flags []string) []string {
	var out []string
	for _, f := range flags {
		if _, err := mailstore.CanonicalFlags([]string{f}); err == nil {
			out = append(out, f)
		}
	}
	return out
}

// quotaError explains an append refused by the quota: what the user has,
// and that a run after raising the quota continues where this one ended.
func quotaError(err error, user *mailstore.User, fr *FolderReport) error {
	if !errors.Is(err, core.ErrOverQuota) {
		return err
	}
	quota := "the domain's quota"
	if user.QuotaBytes > 0 {
		quota = fmt.Sprintf("the quota of %s (%d bytes)", user.Address, user.QuotaBytes)
	}
	if user.QuotaMessages > 0 {
		quota += fmt.Sprintf(", at most %d messages", user.QuotaMessages)
	}
	return fmt.Errorf("folder %q: the next messages do not fit in %s after %d were imported into %s; "+
		"raise the quota and run the import again to continue: %w", fr.Folder, quota, fr.Imported, fr.Mailbox, err)
}
