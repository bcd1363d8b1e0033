package mailstore

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"gorm.io/gorm/clause"

	yubindb "github.com/yubinmail/yubin/internal/db"
)

// Private \Seen on shared mailboxes (RFC 4314 §5.2, in the manner of
// Cyrus's per-user seen state and Dovecot's INDEXPVT).
//
// A mailbox's \Seen is either private (the default) or shared. Shared, it
// is an ordinary flag of the message that every user with access sees and
// changes. Private, each user has their own: the owner's is the flag
// kept in the message itself (so that a mailbox nobody else opens costs
// nothing extra, and POP3 sees the owner's state), every other user's is
// a row of private_seen, keyed by mailbox, user and UID. A message the
// user has no row for is unseen to them.
//
// A user's own \Seen change gets a new MODSEQ that the user sees on the
// message (the higher of the message's and the user's row's); other users
// are not told of it (Event.SeenUser). A \Seen change of the owner bumps
// the message's MODSEQ, which other users see as a change of nothing.

// seenSetting records the \Seen mode a mailbox's owner (or an admin, for
// a shared account) chose; no row means private.
type seenSetting struct {
	MailboxID int64 `gorm:"primaryKey;autoIncrement:false"`
	Private   bool  `gorm:"not null"`
}

// TableName names the table of \Seen settings.
func (seenSetting) TableName() string { return "mailbox_seen_settings" }

// privateSeen is one user's \Seen state of one message of a mailbox with
// private \Seen, and the MODSEQ it last changed at.
type privateSeen struct {
	MailboxID int64  `gorm:"primaryKey;autoIncrement:false"`
	UserID    int64  `gorm:"primaryKey;autoIncrement:false;index"`
	UID       uint32 `gorm:"primaryKey;autoIncrement:false"`
	Seen      bool   `gorm:"not null"`
	ModSeq    int64  `gorm:"not null"`
}

// TableName names the table of private \Seen states.
func (privateSeen) TableName() string { return "private_seen" }

func seenModels() []any { return []any{&seenSetting{}, &privateSeen{}} }

// PrivateSeen reports whether a mailbox's \Seen is private per user.
func (s *Store) PrivateSeen(ctx context.Context, mailboxID int64) (bool, error) {
	var rows []seenSetting
	if err := s.db.WithContext(ctx).Where("mailbox_id = ?", mailboxID).Limit(1).Find(&rows).Error; err != nil {
		return false, fmt.Errorf("seen mode of mailbox %d: %w", mailboxID, err)
	}
	return len(rows) == 0 || rows[0].Private, nil
}

// SetPrivateSeen makes a mailbox's \Seen private per user or shared by all
// its users. Users other than the owner keep their private states while
// it is shared and find them again when it is private again.
func (s *Store) SetPrivateSeen(ctx context.Context, mailboxID int64, private bool) error {
	err := s.write(ctx, func(tx *writeTx) error {
		var mb Mailbox
		if err := tx.Select("id", "user_id").Where("id = ?", mailboxID).Take(&mb).Error; err != nil {
			return notFound(err)
		}
		if err := tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "mailbox_id"}},
			DoUpdates: clause.AssignmentColumns([]string{"private"}),
		}).Create(&seenSetting{MailboxID: mailboxID, Private: private}).Error; err != nil {
			return err
		}
		// Everybody's view of \Seen may have changed: bump the MODSEQ
		// of every message, so that CONDSTORE clients fetch the flags
		// again, and tell open sessions.
		modseq, err := bumpModSeq(tx, mailboxID)
		if err != nil {
			return err
		}
		if err := tx.Model(&messageRow{}).Where("mailbox_id = ?", mailboxID).Update("mod_seq", modseq).Error; err != nil {
			return err
		}
		var rows []messageRow
		if err := tx.Select("uid", "flags").Where("mailbox_id = ?", mailboxID).Order("uid").Find(&rows).Error; err != nil {
			return err
		}
		if len(rows) > 0 {
			ev := Event{Kind: FlagsChanged, UserID: mb.UserID, MailboxID: mailboxID, ModSeq: modseq}
			for _, r := range rows {
				ev.UIDs = append(ev.UIDs, r.UID)
				ev.Flags = append(ev.Flags, splitFlags(r.Flags))
			}
			tx.publish(ev)
		}
		mode := "shared"
		if private {
			mode = "private"
		}
		return tx.audit("mailbox.seen", fmt.Sprint(mailboxID), map[string]any{"seen": mode})
	})
	if err != nil {
		return fmt.Errorf("set the seen mode of mailbox %d: %w", mailboxID, err)
	}
	return nil
}

// seenPrivateFor reports whether user userID, not the owner, has a
// \Seen of their own on a mailbox.
func (s *Store) seenPrivateFor(ctx context.Context, mailboxID, userID int64) (bool, error) {
	var mb Mailbox
	if err := s.db.WithContext(ctx).Select("id", "user_id").Where("id = ?", mailboxID).Take(&mb).Error; err != nil {
		return false, fmt.Errorf("mailbox %d: %w", mailboxID, notFound(err))
	}
	if mb.UserID == userID {
		return false, nil
	}
	return s.PrivateSeen(ctx, mailboxID)
}

// withSeen returns flags with \Seen set or not, sorted.
func withSeen(flags []string, seen bool) []string {
	out := make([]string, 0, len(flags)+1)
	for _, f := range flags {
		if f != FlagSeen {
			out = append(out, f)
		}
	}
	if seen {
		out = append(out, FlagSeen)
		sort.Strings(out)
	}
	return out
}

// privateSeenRows returns a user's private \Seen rows of a mailbox in set,
// by UID.
func (s *Store) privateSeenRows(ctx context.Context, mailboxID, userID int64, set UIDSet) ([]privateSeen, error) {
	var rows []privateSeen
	q := whereUIDs(s.db.WithContext(rowsContext(ctx)).Where("mailbox_id = ? AND user_id = ?", mailboxID, userID), set)
	if err := q.Order("uid").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("seen state of user %d in mailbox %d: %w", userID, mailboxID, err)
	}
	return rows, nil
}

// applyPrivateSeen gives metas (by UID) the private \Seen of rows (by
// UID) and the higher of the two MODSEQs.
func applyPrivateSeen(metas []MessageMeta, rows []privateSeen) {
	j := 0
	for i := range metas {
		m := &metas[i]
		for j < len(rows) && rows[j].UID < m.UID {
			j++
		}
		seen := false
		if j < len(rows) && rows[j].UID == m.UID {
			seen = rows[j].Seen
			m.ModSeq = max(m.ModSeq, rows[j].ModSeq)
		}
		m.Flags = withSeen(m.Flags, seen)
	}
}

// ListMessagesAs is ListMessages as user userID sees the mailbox: with
// their own \Seen where it is private.
func (s *Store) ListMessagesAs(ctx context.Context, userID, mailboxID int64, set UIDSet) ([]MessageMeta, error) {
	return s.listMessagesAs(ctx, userID, mailboxID, set, s.ListMessages)
}

// listMessagesAs is ListMessagesAs with the listing of list.
func (s *Store) listMessagesAs(ctx context.Context, userID, mailboxID int64, set UIDSet, list func(context.Context, int64, UIDSet) ([]MessageMeta, error)) ([]MessageMeta, error) {
	private, err := s.seenPrivateFor(ctx, mailboxID, userID)
	if err != nil {
		return nil, err
	}
	metas, err := list(ctx, mailboxID, set)
	if err != nil || !private || len(metas) == 0 {
		return metas, err
	}
	rows, err := s.privateSeenRows(ctx, mailboxID, userID, set)
	if err != nil {
		return nil, err
	}
	applyPrivateSeen(metas, rows)
	return metas, nil
}

// StatusAs is Status as user userID sees the mailbox: UNSEEN counts their
// own \Seen where it is private.
func (s *Store) StatusAs(ctx context.Context, userID, mailboxID int64) (*MailboxStatus, error) {
	private, err := s.seenPrivateFor(ctx, mailboxID, userID)
	if err != nil {
		return nil, err
	}
	st, err := s.Status(ctx, mailboxID)
	if err != nil || !private {
		return st, err
	}
	var seen int64
	err = yubindb.FirstRow(s.db.WithContext(ctx).Raw("SELECT COUNT(*) FROM private_seen p JOIN messages m ON m.mailbox_id = p.mailbox_id AND m.uid = p.uid WHERE p.mailbox_id = ? AND p.user_id = ? AND p.seen",
		mailboxID, userID).Rows()).Scan(&seen)
	if err != nil {
		return nil, fmt.Errorf("status of mailbox %d for user %d: %w", mailboxID, userID, err)
	}
	st.Unseen = st.Messages - uint32(min(seen, int64(st.Messages)))
	return st, nil
}

// StoreFlagsAs is StoreFlagsIf done by user userID: where the mailbox's
// \Seen is private, a change of \Seen is the user's own, and only the
// user is told of it; the other flags are the message's, for everyone.
func (s *Store) StoreFlagsAs(ctx context.Context, userID, mailboxID int64, set UIDSet, op FlagOp, flags []string, unchangedSince int64) (updates []FlagUpdate, modified []uint32, err error) {
	// The owner and, for the owner, whether a change must keep \Seen to
	// the owner (the \Seen is private and others have access), in one
	// query: it runs before every STORE.
	var mb Mailbox
	var split bool
	err = yubindb.FirstRow(s.db.WithContext(ctx).Raw("SELECT m.user_id, EXISTS (SELECT 1 FROM mailbox_acl WHERE mailbox_id = m.id) AND NOT EXISTS (SELECT 1 FROM mailbox_seen_settings WHERE mailbox_id = m.id AND NOT private) FROM mailboxes m WHERE m.id = ?",
		mailboxID).Rows()).Scan(&mb.UserID, &split)
	if err != nil {
		return nil, nil, fmt.Errorf("store flags: mailbox %d: %w", mailboxID, notFound(err))
	}
	if mb.UserID != userID {
		split, err = s.PrivateSeen(ctx, mailboxID)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store flags: %w", err)
	}
	if !split {
		return s.StoreFlagsIf(ctx, mailboxID, set, op, flags, unchangedSince)
	}
	fl, err := CanonicalFlags(flags)
	if err != nil {
		return nil, nil, fmt.Errorf("store flags: %w", err)
	}
	err = s.write(ctx, func(tx *writeTx) error {
		updates, modified = nil, nil
		return storeFlagsSplitTx(tx, userID, mb.UserID, mailboxID, set, op, fl, unchangedSince, &updates, &modified)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("store flags in mailbox %d: %w", mailboxID, err)
	}
	return updates, modified, nil
}

// storeFlagsSplitTx changes flags in a mailbox with private \Seen as user
// userID: \Seen in the user's own state, the others in the messages.
func storeFlagsSplitTx(tx *writeTx, userID, ownerID, mailboxID int64, set UIDSet, op FlagOp, fl []string, unchangedSince int64, updates *[]FlagUpdate, modified *[]uint32) error {
	isOwner := userID == ownerID
	if tx.store.dialect.IsPostgres() {
		// The mailbox's row stays locked, as in StoreFlags.
		if _, err := mailboxOwnerTx(tx, mailboxID); err != nil {
			return err
		}
	}
	var rows []messageRow
	q := whereUIDs(tx.Select("id", "uid", "flags", "mod_seq").Where("mailbox_id = ?", mailboxID), set)
	if err := q.Order("uid").Find(&rows).Error; err != nil {
		return err
	}
	rows = filterRows(rows, set)
	var mine []privateSeen
	if !isOwner {
		q := whereUIDs(tx.Where("mailbox_id = ? AND user_id = ?", mailboxID, userID), set)
		if err := q.Order("uid").Find(&mine).Error; err != nil {
			return err
		}
	}
	type change struct {
		i          int // in rows
		rowFlags   string
		rowChanged bool // the message's flags, but for a user's \Seen
		seen       bool // the user's new \Seen
		seenChange bool
	}
	var changes []change
	j := 0
	for i, r := range rows {
		cur := splitFlags(r.Flags)
		rowSeen := hasFlag(cur, FlagSeen)
		seen, modSeq := rowSeen, r.ModSeq
		if !isOwner {
			for j < len(mine) && mine[j].UID < r.UID {
				j++
			}
			seen = false
			if j < len(mine) && mine[j].UID == r.UID {
				seen, modSeq = mine[j].Seen, max(modSeq, mine[j].ModSeq)
			}
		}
		if unchangedSince >= 0 && modSeq > unchangedSince {
			*modified = append(*modified, r.UID)
			continue
		}
		view := withSeen(cur, seen)
		next := applyFlagOp(view, op, fl)
		nextSeen := hasFlag(next, FlagSeen)
		rowNext := next
		if !isOwner {
			rowNext = withSeen(next, rowSeen)
		}
		joined := strings.Join(rowNext, " ")
		c := change{i: i, rowFlags: joined, seen: nextSeen}
		// The owner's \Seen alone changing is the owner's business.
		c.rowChanged = strings.Join(withSeen(cur, false), " ") != strings.Join(withSeen(rowNext, false), " ")
		c.seenChange = nextSeen != seen
		u := FlagUpdate{UID: r.UID, Flags: next, ModSeq: modSeq, Changed: c.rowChanged || c.seenChange}
		*updates = append(*updates, u)
		if u.Changed {
			changes = append(changes, c)
		}
	}
	if len(changes) == 0 {
		return nil
	}
	modseq, err := bumpModSeq(tx, mailboxID)
	if err != nil {
		return err
	}
	byFlags := map[string][]int64{}
	var seenRows []privateSeen
	shared := Event{Kind: FlagsChanged, UserID: ownerID, MailboxID: mailboxID, ModSeq: modseq}
	own := Event{Kind: FlagsChanged, UserID: ownerID, MailboxID: mailboxID, ModSeq: modseq, SeenUser: userID}
	k := 0
	for n := range *updates {
		u := &(*updates)[n]
		if !u.Changed {
			continue
		}
		c := changes[k]
		k++
		u.ModSeq = modseq
		r := rows[c.i]
		if isOwner || c.rowChanged {
			byFlags[c.rowFlags] = append(byFlags[c.rowFlags], r.ID)
		}
		if !isOwner && c.seenChange {
			seenRows = append(seenRows, privateSeen{MailboxID: mailboxID, UserID: userID, UID: r.UID, Seen: c.seen, ModSeq: modseq})
		}
		if c.rowChanged {
			// Everyone is told; other users' sessions read their own
			// \Seen again (the flags here are the owner's).
			shared.UIDs = append(shared.UIDs, r.UID)
			shared.Flags = append(shared.Flags, splitFlags(c.rowFlags))
		} else {
			own.UIDs = append(own.UIDs, r.UID)
			own.Flags = append(own.Flags, u.Flags)
		}
	}
	for joined, ids := range byFlags {
		next := splitFlags(joined)
		for chunk := range slices.Chunk(ids, 500) {
			if err := tx.Model(&messageRow{}).Where("id IN ?", chunk).Updates(map[string]any{
				"flags": joined, "seen": hasFlag(next, FlagSeen), "deleted": hasFlag(next, FlagDeleted), "mod_seq": modseq,
			}).Error; err != nil {
				return err
			}
		}
	}
	if len(seenRows) > 0 {
		if err := tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "mailbox_id"}, {Name: "user_id"}, {Name: "uid"}},
			DoUpdates: clause.AssignmentColumns([]string{"seen", "mod_seq"}),
		}).CreateInBatches(seenRows, 200).Error; err != nil {
			return err
		}
	}
	if len(shared.UIDs) > 0 {
		tx.publish(shared)
	}
	if len(own.UIDs) > 0 {
		tx.publish(own)
	}
	return nil
}

// SetSeenAs sets (or clears) \Seen on messages of a mailbox as user
// userID sees them, without MODSEQ conditions: the copier's view on the
// copies of a COPY, the appender's on an APPEND.
func (s *Store) SetSeenAs(ctx context.Context, userID, mailboxID int64, uids []uint32, seen bool) error {
	if len(uids) == 0 {
		return nil
	}
	op := FlagsRemove
	if seen {
		op = FlagsAdd
	}
	_, _, err := s.StoreFlagsAs(ctx, userID, mailboxID, UIDs(uids...), op, []string{FlagSeen}, -1)
	return err
}

// deletePrivateSeenTx forgets the private \Seen of expunged messages.
func deletePrivateSeenTx(tx *writeTx, mailboxID int64, uids []uint32) error {
	for chunk := range slices.Chunk(uids, 500) {
		if err := tx.Where("mailbox_id = ? AND uid IN ?", mailboxID, chunk).Delete(&privateSeen{}).Error; err != nil {
			return fmt.Errorf("forget the seen state of expunged messages: %w", err)
		}
	}
	return nil
}

// deleteMailboxSeenTx forgets the \Seen setting and states of a mailbox
// that goes away.
func deleteMailboxSeenTx(tx *writeTx, mailboxID int64) error {
	if err := tx.Where("mailbox_id = ?", mailboxID).Delete(&privateSeen{}).Error; err != nil {
		return err
	}
	return tx.Where("mailbox_id = ?", mailboxID).Delete(&seenSetting{}).Error
}
