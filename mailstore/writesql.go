package mailstore

import (
	"fmt"
	"strings"

	yubindb "github.com/yubinmail/yubin/internal/db"
)

// Statements of the writer's hot paths (STORE, EXPUNGE) written out: the
// writer runs every write one after another, so gorm's statement building
// and reflective scanning there add to every client's wait. They go to the
// writer's connection as written, as the writer's own statements do
// (internal/db.WriterConn): with "?" placeholders, which Dialect.Rebind
// turns into PostgreSQL's $1, $2, … (and leaves alone on SQLite).

// mailboxOwnerTx returns the owner of a mailbox; an error wrapping
// core.ErrNotFound if there is none. On PostgreSQL it locks the mailbox's
// row until the commit: STORE and EXPUNGE read the messages' flags and
// then write them, and another node's change in between would be lost.
// (SQLite's writer holds the database's write lock already.)
func mailboxOwnerTx(tx *writeTx, mailboxID int64) (int64, error) {
	q := mailboxOwnerSQL
	if tx.store.dialect.IsPostgres() {
		q = mailboxOwnerLockSQL
	}
	var owner int64
	err := yubindb.FirstRow(tx.Statement.ConnPool.QueryContext(tx.Statement.Context, q, mailboxID)).Scan(&owner)
	return owner, notFound(err)
}

// The statements of mailboxOwnerTx.
const (
	mailboxOwnerSQL     = "SELECT user_id FROM mailboxes WHERE id = ?"
	mailboxOwnerLockSQL = "SELECT user_id FROM mailboxes WHERE id = $1 FOR UPDATE"
)

// selectMessageRows reads the columns cols (a subset of id, uid, flags,
// mod_seq, blob_key, size, in any order) of the messages of a mailbox in
// set (nil: all) that also satisfy cond (SQL beginning with " AND ", or
// ""), ordered by UID. Sets of more than maxSQLRanges ranges are filtered
// in Go.
func selectMessageRows(tx *writeTx, cols string, mailboxID int64, cond string, set UIDSet) ([]messageRow, error) {
	var q strings.Builder
	q.WriteString("SELECT ")
	q.WriteString(cols)
	q.WriteString(" FROM messages WHERE mailbox_id = ?")
	q.WriteString(cond)
	args := []any{mailboxID}
	if set != nil && len(set) <= maxSQLRanges {
		q.WriteString(" AND (")
		for i, r := range set {
			if i > 0 {
				q.WriteString(" OR ")
			}
			if r.Stop == 0 {
				q.WriteString("uid >= ?")
				args = append(args, r.Start)
			} else {
				q.WriteString("uid BETWEEN ? AND ?")
				args = append(args, r.Start, r.Stop)
			}
		}
		if len(set) == 0 {
			q.WriteString("1 = 0")
		}
		q.WriteString(")")
	}
	q.WriteString(" ORDER BY uid")
	names := strings.Split(cols, ", ")
	rows, err := tx.Statement.ConnPool.QueryContext(tx.Statement.Context, tx.store.dialect.Rebind(q.String()), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []messageRow
	dest := make([]any, len(names))
	for rows.Next() {
		var r messageRow
		for i, n := range names {
			switch n {
			case "id":
				dest[i] = &r.ID
			case "uid":
				dest[i] = &r.UID
			case "flags":
				dest[i] = &r.Flags
			case "mod_seq":
				dest[i] = &r.ModSeq
			case "blob_key":
				dest[i] = &r.BlobKey
			case "size":
				dest[i] = &r.Size
			default:
				return nil, fmt.Errorf("select message rows: unknown column %q", n)
			}
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if len(set) > maxSQLRanges && !set.Contains(r.UID) {
			continue
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
