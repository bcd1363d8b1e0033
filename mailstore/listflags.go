package mailstore

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// rowsContext is the context of a query whose rows are read one by one.
// go-sqlite3 watches a context that can be cancelled with a goroutine per
// row (its Rows.Next), which costs more than reading a small row; without
// cancellation it reads the rows inline. The loops that read the rows
// check the caller's ctx themselves (see rowsCheck), so a listing still
// stops soon after its session goes away. Other drivers (PostgreSQL) lose
// nothing by it: the query is sent before the loop starts.
func rowsContext(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// rowsCheck is how many rows a loop reads between checks of its caller's
// context.
const rowsCheck = 1024

// flagLists turns stored flag strings into flag lists, one list for each
// distinct string: the messages of a mailbox share few combinations of
// flags, and each combination is split once per listing. The lists are
// shared between messages, so they are read-only.
type flagLists map[string][]string

func (f flagLists) get(s string) []string {
	if s == "" {
		return nil
	}
	if l, ok := f[s]; ok {
		return l
	}
	l := splitFlags(s)
	f[s] = l[:len(l):len(l)]
	return f[s]
}

// ListMessageFlags is ListMessages with only UID, ModSeq and Flags set:
// what FETCH FLAGS, a SEARCH on flags and SELECT read, without the dates
// (which the SQLite driver parses from text) and the body keys. The Flags
// slices may be shared between messages: callers must not change them.
func (s *Store) ListMessageFlags(ctx context.Context, mailboxID int64, set UIDSet) ([]MessageMeta, error) {
	return listFlagsOn(ctx, s.db.WithContext(rowsContext(ctx)), mailboxID, set)
}

// SnapshotFlags is Snapshot with the messages' flags: the messages of a
// mailbox as ListMessageFlags lists them and the MODSEQ they are current
// at, read in one transaction (what SELECT needs).
func (s *Store) SnapshotFlags(ctx context.Context, mailboxID int64) (metas []MessageMeta, modSeq int64, err error) {
	err = s.db.WithContext(rowsContext(ctx)).Transaction(func(tx *gorm.DB) error {
		var mb Mailbox
		if err := tx.Select("highest_modseq").Where("id = ?", mailboxID).Take(&mb).Error; err != nil {
			return notFound(err)
		}
		modSeq = mb.HighestModSeq
		metas, err = listFlagsOn(ctx, tx, mailboxID, nil)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("snapshot of mailbox %d: %w", mailboxID, err)
	}
	return metas, modSeq, nil
}

// SnapshotFlagsAs is SnapshotFlags as user userID sees the mailbox (see
// ListMessagesAs).
func (s *Store) SnapshotFlagsAs(ctx context.Context, userID, mailboxID int64) (metas []MessageMeta, modSeq int64, err error) {
	metas, err = s.listMessagesAs(ctx, userID, mailboxID, nil, func(ctx context.Context, id int64, _ UIDSet) ([]MessageMeta, error) {
		var list []MessageMeta
		list, modSeq, err = s.SnapshotFlags(ctx, id)
		return list, err
	})
	return metas, modSeq, err
}

// listFlagsOn lists the flags of the messages of a mailbox in set with db,
// a handle with a rowsContext (see ListMessageFlags).
func listFlagsOn(ctx context.Context, db *gorm.DB, mailboxID int64, set UIDSet) ([]MessageMeta, error) {
	return listLean(ctx, db, mailboxID, set, "the flags", "uid, mod_seq, flags", func(m *MessageMeta, flags *string) []any {
		return []any{&m.UID, &m.ModSeq, flags}
	})
}

// listLean lists cols of the messages of a mailbox in set, by UID, with
// db (a handle with a rowsContext), scanning each row into what dest
// gives: fields of m, and flags, which becomes m.Flags. what names the
// listing in errors.
func listLean(ctx context.Context, db *gorm.DB, mailboxID int64, set UIDSet, what, cols string, dest func(m *MessageMeta, flags *string) []any) ([]MessageMeta, error) {
	q := db.Table("messages").Select(cols).Where("mailbox_id = ?", mailboxID)
	rows, err := whereUIDs(q, set).Order("uid").Rows()
	if err != nil {
		return nil, fmt.Errorf("list %s of mailbox %d: %w", what, mailboxID, err)
	}
	defer rows.Close()
	out := []MessageMeta{}
	lists := flagLists{}
	var m MessageMeta
	var flags string
	d := dest(&m, &flags)
	for n := 0; rows.Next(); n++ {
		if n%rowsCheck == rowsCheck-1 && ctx.Err() != nil {
			return nil, fmt.Errorf("list %s of mailbox %d: %w", what, mailboxID, ctx.Err())
		}
		if err := rows.Scan(d...); err != nil {
			return nil, fmt.Errorf("list %s of mailbox %d: %w", what, mailboxID, err)
		}
		if len(set) > maxSQLRanges && !set.Contains(m.UID) {
			continue // filtered in Go (see whereUIDs)
		}
		m.Flags = lists.get(flags)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s of mailbox %d: %w", what, mailboxID, err)
	}
	return out, nil
}

// ListMessageFlagsAs is ListMessageFlags as user userID sees the mailbox
// (see ListMessagesAs).
func (s *Store) ListMessageFlagsAs(ctx context.Context, userID, mailboxID int64, set UIDSet) ([]MessageMeta, error) {
	return s.listMessagesAs(ctx, userID, mailboxID, set, s.ListMessageFlags)
}

// ListMessageBodies is ListMessages without the dates (InternalDate and
// SaveDate stay zero): UID, ModSeq, Flags, Size and BlobKey, what a FETCH
// of bodies, sizes or EMAILID and a POP3 maildrop read. The dates are the
// costliest columns of a listing (read as text, then parsed). The Flags
// slices may be shared between messages: callers must not change them.
func (s *Store) ListMessageBodies(ctx context.Context, mailboxID int64, set UIDSet) ([]MessageMeta, error) {
	return listLean(ctx, s.db.WithContext(rowsContext(ctx)), mailboxID, set, "the bodies", "uid, size, mod_seq, flags, blob_key", func(m *MessageMeta, flags *string) []any {
		return []any{&m.UID, &m.Size, &m.ModSeq, flags, &m.BlobKey}
	})
}

// ListMessageBodiesAs is ListMessageBodies as user userID sees the mailbox
// (see ListMessagesAs).
func (s *Store) ListMessageBodiesAs(ctx context.Context, userID, mailboxID int64, set UIDSet) ([]MessageMeta, error) {
	return s.listMessagesAs(ctx, userID, mailboxID, set, s.ListMessageBodies)
}
