package mailstore

import (
	"context"
	"fmt"
	"github.com/yubinmail/yubin/internal/sqltext"
	"strings"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/yubinmail/yubin/core"
)

// Delimiter separates the levels of mailbox names.
const Delimiter = '/'

// Inbox is the name of every user's incoming mailbox.
const Inbox = "INBOX"

// SpecialUses lists the RFC 6154 special-use attributes a mailbox may carry.
var SpecialUses = []string{`\All`, `\Archive`, `\Drafts`, `\Flagged`, `\Junk`, `\Sent`, `\Trash`}

// CanonicalMailboxName validates a mailbox name and returns it with any
// spelling of INBOX (also as a parent) in upper case.
func CanonicalMailboxName(name string) (string, error) {
	if name == "" || len(name) > 1000 || !utf8.ValidString(name) {
		return "", fmt.Errorf("mailbox name %q: must be 1 to 1000 bytes of UTF-8: %w", name, core.ErrInvalid)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '*' || r == '%' {
			return "", fmt.Errorf("mailbox name %q: character %q not allowed: %w", name, r, core.ErrInvalid)
		}
	}
	d := string(Delimiter)
	if strings.HasPrefix(name, d) || strings.HasSuffix(name, d) || strings.Contains(name, d+d) {
		return "", fmt.Errorf("mailbox name %q: empty hierarchy level: %w", name, core.ErrInvalid)
	}
	if strings.EqualFold(name, Inbox) {
		return Inbox, nil
	}
	if len(name) > len(Inbox) && strings.EqualFold(name[:len(Inbox)+1], Inbox+d) {
		return Inbox + name[len(Inbox):], nil
	}
	return name, nil
}

func validSpecialUse(use string) bool {
	if use == "" {
		return true
	}
	for _, u := range SpecialUses {
		if strings.EqualFold(u, use) {
			return true
		}
	}
	return false
}

func canonicalSpecialUse(use string) string {
	for _, u := range SpecialUses {
		if strings.EqualFold(u, use) {
			return u
		}
	}
	return use
}

// lockRow makes the SELECT of tx lock the rows it reads until the
// transaction ends (FOR UPDATE), so that a check made on them holds at the
// commit when another process (a second node on PostgreSQL) writes at
// once. SQLite has no row locks and needs none: its write transactions
// hold the database's one write lock (gorm leaves the clause out there).
func lockRow(tx *gorm.DB) *gorm.DB {
	return tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
}

func nextUIDValidity(tx *writeTx) (uint32, error) {
	if err := tx.Model(&counter{}).Where("name = ?", "uidvalidity").
		Update("value", gorm.Expr("value + 1")).Error; err != nil {
		return 0, err
	}
	var c counter
	if err := tx.Where("name = ?", "uidvalidity").Take(&c).Error; err != nil {
		return 0, err
	}
	return uint32(c.Value), nil
}

// createMailboxTx creates a mailbox and subscribes it (a user's default
// mailboxes); createMailboxOnlyTx leaves the subscriptions alone.
func createMailboxTx(tx *writeTx, userID int64, name, use string) (*Mailbox, error) {
	mb, err := createMailboxOnlyTx(tx, userID, name, use)
	if err != nil {
		return nil, err
	}
	if err := subscribeTx(tx, userID, name); err != nil {
		return nil, err
	}
	return mb, nil
}

func createMailboxOnlyTx(tx *writeTx, userID int64, name, use string) (*Mailbox, error) {
	var count int64
	if err := tx.Model(&Mailbox{}).Where("user_id = ? AND name = ?", userID, name).Count(&count).Error; err != nil {
		return nil, err
	}
	if count > 0 {
		return nil, fmt.Errorf("mailbox %q: %w", name, core.ErrExists)
	}
	if limit := tx.store.maxBoxes; limit > 0 {
		// The user's row stays locked (PostgreSQL) while the count holds.
		if tx.store.dialect.IsPostgres() {
			var locked User
			if err := lockRow(tx.DB).Select("id").Where("id = ?", userID).Take(&locked).Error; err != nil {
				return nil, notFound(err)
			}
		}
		var n int64
		if err := tx.Model(&Mailbox{}).Where("user_id = ?", userID).Count(&n).Error; err != nil {
			return nil, err
		}
		if n >= int64(limit) {
			return nil, fmt.Errorf("%w (at most %d per user; delete some first)", ErrTooManyMailboxes, limit)
		}
	}
	uv, err := nextUIDValidity(tx)
	if err != nil {
		return nil, err
	}
	mb := &Mailbox{UserID: userID, Name: name, SpecialUse: use, UIDValidity: uv, UIDNext: 1, HighestModSeq: 1, Subscribed: true, ObjectID: newMailboxObjectID()}
	if err := tx.Create(mb).Error; err != nil {
		return nil, err
	}
	tx.publish(Event{Kind: MailboxesChanged, UserID: userID, MailboxID: mb.ID})
	return mb, nil
}

// ListMailboxes returns a user's mailboxes ordered by name.
func (s *Store) ListMailboxes(ctx context.Context, userID int64) ([]Mailbox, error) {
	var mbs []Mailbox
	if err := s.db.WithContext(ctx).Where("user_id = ?", userID).Order("name").Find(&mbs).Error; err != nil {
		return nil, fmt.Errorf("list mailboxes of user %d: %w", userID, err)
	}
	return mbs, nil
}

// GetMailbox returns a user's mailbox by name.
func (s *Store) GetMailbox(ctx context.Context, userID int64, name string) (*Mailbox, error) {
	n, err := CanonicalMailboxName(name)
	if err != nil {
		return nil, err
	}
	var mb Mailbox
	if err := s.db.WithContext(ctx).Where("user_id = ? AND name = ?", userID, n).Take(&mb).Error; err != nil {
		return nil, fmt.Errorf("mailbox %q: %w", n, notFound(err))
	}
	return &mb, nil
}

// GetMailboxByID returns a mailbox by its ID.
func (s *Store) GetMailboxByID(ctx context.Context, id int64) (*Mailbox, error) {
	var mb Mailbox
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&mb).Error; err != nil {
		return nil, fmt.Errorf("mailbox %d: %w", id, notFound(err))
	}
	return &mb, nil
}

// ErrTooManyMailboxes is the error of creating a mailbox beyond
// Options.MaxMailboxes. It is a core.ErrConflict, so that every server
// refuses it with its text (IMAP NO, API 409); an IMAP server may answer
// it with the LIMIT response code (RFC 5530).
var ErrTooManyMailboxes error = tooManyMailboxes{}

// tooManyMailboxes is ErrTooManyMailboxes: its text is for the user, its
// kind core.ErrConflict.
type tooManyMailboxes struct{}

func (tooManyMailboxes) Error() string        { return "too many mailboxes" }
func (tooManyMailboxes) Is(target error) bool { return target == core.ErrConflict }

// CreateMailbox creates a mailbox, optionally with a special use (RFC 6154).
// It is not subscribed: subscribing is the client's choice (RFC 9051
// §6.3.7).
// It fails with ErrTooManyMailboxes when the user has Options.MaxMailboxes.
func (s *Store) CreateMailbox(ctx context.Context, userID int64, name, specialUse string) (*Mailbox, error) {
	n, err := CanonicalMailboxName(name)
	if err != nil {
		return nil, fmt.Errorf("create mailbox: %w", err)
	}
	if !validSpecialUse(specialUse) {
		return nil, fmt.Errorf("create mailbox %q: unknown special use %q: %w", n, specialUse, core.ErrInvalid)
	}
	var mb *Mailbox
	err = s.write(ctx, func(tx *writeTx) error {
		var err error
		mb, err = createMailboxOnlyTx(tx, userID, n, canonicalSpecialUse(specialUse))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create mailbox %q: %w", n, uniqueToExists(err))
	}
	return mb, nil
}

// DeleteMailbox deletes a mailbox and the messages in it. Its children, if
// any, stay. INBOX cannot be deleted.
func (s *Store) DeleteMailbox(ctx context.Context, userID int64, name string) error {
	n, err := CanonicalMailboxName(name)
	if err != nil {
		return fmt.Errorf("delete mailbox: %w", err)
	}
	if n == Inbox {
		return fmt.Errorf("delete mailbox: INBOX cannot be deleted: %w", core.ErrConflict)
	}
	err = s.write(ctx, func(tx *writeTx) error {
		var mb Mailbox
		if err := tx.Where("user_id = ? AND name = ?", userID, n).Take(&mb).Error; err != nil {
			return notFound(err)
		}
		var rows []messageRow
		if err := tx.Select("id", "uid", "blob_key", "size").Where("mailbox_id = ?", mb.ID).Find(&rows).Error; err != nil {
			return err
		}
		if err := removeRows(tx, userID, &mb, rows, false); err != nil {
			return err
		}
		if err := deleteMetadataTx(tx, userID, mb.ID); err != nil {
			return err
		}
		if err := deleteURLAuthKeysTx(tx, userID, mb.ID); err != nil {
			return err
		}
		if err := deleteMailboxACLTx(tx, mb.ID); err != nil {
			return err
		}
		if err := tx.Delete(&mb).Error; err != nil {
			return err
		}
		tx.publish(Event{Kind: MailboxesChanged, UserID: userID, MailboxID: mb.ID})
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete mailbox %q: %w", n, err)
	}
	return nil
}

// RenameMailbox renames a mailbox and its children. Renaming INBOX moves its
// messages into a new mailbox and leaves INBOX empty (RFC 3501 §6.3.5).
func (s *Store) RenameMailbox(ctx context.Context, userID int64, oldName, newName string) error {
	from, err := CanonicalMailboxName(oldName)
	if err != nil {
		return fmt.Errorf("rename mailbox: %w", err)
	}
	to, err := CanonicalMailboxName(newName)
	if err != nil {
		return fmt.Errorf("rename mailbox: %w", err)
	}
	if to == Inbox {
		return fmt.Errorf("rename mailbox %q: cannot rename onto INBOX: %w", from, core.ErrConflict)
	}
	if from == to {
		return fmt.Errorf("rename mailbox %q: same name: %w", from, core.ErrExists)
	}
	if strings.HasPrefix(to, from+string(Delimiter)) {
		return fmt.Errorf("rename mailbox %q into its own child %q: %w", from, to, core.ErrInvalid)
	}
	err = s.write(ctx, func(tx *writeTx) error {
		var mb Mailbox
		if err := tx.Where("user_id = ? AND name = ?", userID, from).Take(&mb).Error; err != nil {
			return notFound(err)
		}
		var count int64
		if err := tx.Model(&Mailbox{}).Where("user_id = ? AND name = ?", userID, to).Count(&count).Error; err != nil {
			return err
		}
		if count > 0 {
			return core.ErrExists
		}
		// RFC 3501 §6.3.5: the superior names the new name needs are
		// created (unsubscribed, like CREATE's), so that "x" renamed to
		// "p/q/x" is listed under p and p/q.
		if err := createSuperiorsTx(tx, userID, to); err != nil {
			return err
		}
		if from == Inbox {
			return renameInboxTx(tx, userID, &mb, to)
		}
		// Mailbox names are case-sensitive (but INBOX): SQLite's LIKE
		// ignores ASCII case, so the prefix is compared byte for byte.
		childCond, childArgs := sqltext.HasPrefix("name", from+string(Delimiter))
		var children []Mailbox
		if err := tx.Where("user_id = ? AND "+childCond, append([]any{userID}, childArgs...)...).Find(&children).Error; err != nil {
			return err
		}
		if err := tx.Model(&mb).Update("name", to).Error; err != nil {
			return err
		}
		for _, c := range children {
			if err := tx.Model(&c).Update("name", to+c.Name[len(from):]).Error; err != nil {
				return err
			}
		}
		if err := renameSubscriptionsTx(tx, userID, from, to); err != nil {
			return err
		}
		tx.publish(Event{Kind: MailboxesChanged, UserID: userID, MailboxID: mb.ID})
		return nil
	})
	if err != nil {
		return fmt.Errorf("rename mailbox %q to %q: %w", from, to, uniqueToExists(err))
	}
	return nil
}

// createSuperiorsTx creates every missing superior mailbox of name: "p"
// and "p/q" for "p/q/x". Existing ones are left alone.
func createSuperiorsTx(tx *writeTx, userID int64, name string) error {
	for i := 0; i < len(name); i++ {
		if name[i] != Delimiter {
			continue
		}
		parent := name[:i]
		var count int64
		if err := tx.Model(&Mailbox{}).Where("user_id = ? AND name = ?", userID, parent).Count(&count).Error; err != nil {
			return err
		}
		if count > 0 {
			continue
		}
		if _, err := createMailboxOnlyTx(tx, userID, parent, ""); err != nil {
			return fmt.Errorf("create superior %q: %w", parent, err)
		}
	}
	return nil
}

func renameInboxTx(tx *writeTx, userID int64, inbox *Mailbox, to string) error {
	dst, err := createMailboxTx(tx, userID, to, "")
	if err != nil {
		return err
	}
	var uids []uint32
	if err := tx.Model(&messageRow{}).Where("mailbox_id = ?", inbox.ID).Order("uid").Pluck("uid", &uids).Error; err != nil {
		return err
	}
	if err := tx.Model(&messageRow{}).Where("mailbox_id = ?", inbox.ID).Update("mailbox_id", dst.ID).Error; err != nil {
		return err
	}
	if err := tx.Model(dst).Updates(map[string]any{"uid_next": inbox.UIDNext, "highest_modseq": inbox.HighestModSeq + 1}).Error; err != nil {
		return err
	}
	if len(uids) > 0 {
		modseq, err := bumpModSeq(tx, inbox.ID)
		if err != nil {
			return err
		}
		tx.publish(Event{Kind: MessagesExpunged, UserID: userID, MailboxID: inbox.ID, ModSeq: modseq, UIDs: uids})
	}
	return nil
}

// subscription is one name on a user's subscription list (IMAP SUBSCRIBE,
// LSUB, LIST (SUBSCRIBED)). The list is the user's own: a name stays on it
// when its mailbox is deleted, and may name a mailbox that does not exist
// (RFC 9051 §6.3.7).
type subscription struct {
	UserID int64  `gorm:"primaryKey;autoIncrement:false"`
	Name   string `gorm:"primaryKey;size:1000"`
}

func subscriptionModels() []any { return []any{&subscription{}} }

// migrateSubscriptions fills the subscription list, once, from the
// subscribed flag mailboxes had before the list existed.
func (s *Store) migrateSubscriptions(ctx context.Context) error {
	return s.migrateOnce(ctx, "subscriptions_migrated", func(tx *gorm.DB) error {
		return tx.Exec("INSERT INTO subscriptions (user_id, name) SELECT user_id, name FROM mailboxes WHERE subscribed").Error
	})
}

func subscribeTx(tx *writeTx, userID int64, name string) error {
	return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&subscription{UserID: userID, Name: name}).Error
}

// renameSubscriptionsTx renames the subscriptions of a mailbox and of its
// children along with them.
func renameSubscriptionsTx(tx *writeTx, userID int64, from, to string) error {
	childCond, childArgs := sqltext.HasPrefix("name", from+string(Delimiter))
	var subs []subscription
	if err := tx.Where("user_id = ? AND (name = ? OR "+childCond+")", append([]any{userID, from}, childArgs...)...).Find(&subs).Error; err != nil {
		return err
	}
	for _, sub := range subs {
		if err := tx.Where("user_id = ? AND name = ?", userID, sub.Name).Delete(&subscription{}).Error; err != nil {
			return err
		}
		if err := subscribeTx(tx, userID, to+sub.Name[len(from):]); err != nil {
			return err
		}
	}
	return nil
}

// SetSubscribed adds a name to a user's subscription list or removes it.
// The mailbox need not exist.
func (s *Store) SetSubscribed(ctx context.Context, userID int64, name string, subscribed bool) error {
	n, err := CanonicalMailboxName(name)
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	err = s.write(ctx, func(tx *writeTx) error {
		tx.publish(Event{Kind: SubscriptionsChanged, UserID: userID, Names: []string{n}})
		if subscribed {
			return subscribeTx(tx, userID, n)
		}
		return tx.Where("user_id = ? AND name = ?", userID, n).Delete(&subscription{}).Error
	})
	if err != nil {
		return fmt.Errorf("subscribe %q: %w", n, err)
	}
	return nil
}

// ListSubscriptions returns a user's subscription list, sorted.
func (s *Store) ListSubscriptions(ctx context.Context, userID int64) ([]string, error) {
	var names []string
	if err := s.db.WithContext(ctx).Model(&subscription{}).Where("user_id = ?", userID).Order("name").Pluck("name", &names).Error; err != nil {
		return nil, fmt.Errorf("list subscriptions of user %d: %w", userID, err)
	}
	return names, nil
}

// MailboxStatus is a mailbox's counters (IMAP STATUS).
type MailboxStatus struct {
	Messages      uint32
	Unseen        uint32
	Deleted       uint32
	Size          int64
	UIDNext       uint32
	UIDValidity   uint32
	HighestModSeq int64
}

// Status returns a mailbox's counters.
func (s *Store) Status(ctx context.Context, mailboxID int64) (*MailboxStatus, error) {
	var st MailboxStatus
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var mb Mailbox
		if err := tx.Where("id = ?", mailboxID).Take(&mb).Error; err != nil {
			return notFound(err)
		}
		var agg struct {
			Messages int64
			Unseen   int64
			Deleted  int64
			Size     int64
		}
		err := tx.Model(&messageRow{}).Where("mailbox_id = ?", mailboxID).
			Select("COUNT(*) AS messages, COALESCE(SUM(CASE WHEN seen THEN 0 ELSE 1 END), 0) AS unseen, " +
				"COALESCE(SUM(CASE WHEN deleted THEN 1 ELSE 0 END), 0) AS deleted, COALESCE(SUM(size), 0) AS size").
			Scan(&agg).Error
		if err != nil {
			return err
		}
		st = MailboxStatus{
			Messages: uint32(agg.Messages), Unseen: uint32(agg.Unseen), Deleted: uint32(agg.Deleted), Size: agg.Size,
			UIDNext: mb.UIDNext, UIDValidity: mb.UIDValidity, HighestModSeq: mb.HighestModSeq,
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("status of mailbox %d: %w", mailboxID, err)
	}
	return &st, nil
}

// Snapshot returns a mailbox's UIDs in order and the MODSEQ they are current
// at, read consistently; events with a higher ModSeq come after it.
func (s *Store) Snapshot(ctx context.Context, mailboxID int64) (uids []uint32, modSeq int64, err error) {
	err = s.db.WithContext(rowsContext(ctx)).Transaction(func(tx *gorm.DB) error {
		var mb Mailbox
		if err := tx.Select("highest_modseq").Where("id = ?", mailboxID).Take(&mb).Error; err != nil {
			return notFound(err)
		}
		modSeq = mb.HighestModSeq
		return tx.Model(&messageRow{}).Where("mailbox_id = ?", mailboxID).Order("uid").Pluck("uid", &uids).Error
	})
	if err != nil {
		return nil, 0, fmt.Errorf("snapshot of mailbox %d: %w", mailboxID, err)
	}
	return uids, modSeq, nil
}

func bumpModSeq(tx *writeTx, mailboxID int64) (int64, error) {
	// It runs in the writer for every STORE and EXPUNGE: two plain
	// statements, cheaper in SQLite than one UPDATE … RETURNING (see
	// insertMessages).
	var modSeq int64
	if err := tx.txExec("UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = ?", mailboxID); err != nil {
		return 0, err
	}
	if err := tx.txRow("SELECT highest_modseq FROM mailboxes WHERE id = ?", mailboxID).Scan(&modSeq); err != nil {
		return 0, notFound(err)
	}
	return modSeq, nil
}
