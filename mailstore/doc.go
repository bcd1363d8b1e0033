// Package mailstore owns all of Yubin's persistent state behind one Go API:
// domains, users and their credentials, mailboxes, messages with their flags,
// UIDs and MODSEQs, and per-user usage. It is the only package that opens
// the database (through gorm) and the message body store.
//
// Writes go through a single group-committing writer: concurrent callers'
// changes are batched into one database transaction, so one fsync of the
// SQLite WAL makes many deliveries durable at once. Message bodies are written
// to the blob store and flushed (fdatasync, by the delivering goroutine), and
// the group commit flushes the folders that got new bodies (one fsync each)
// before the metadata that makes them visible is committed, so a crash at
// any moment leaves no half-stored message visible and loses nothing
// acknowledged.
//
// Other packages own tables in the same database (the outbound queue in
// mta/queue, the spam filter's token counts in filters/spam/bayesdb, DKIM
// keys in mta/dkimkeys): each declares the small interface it needs, which
// the Store implements in owners.go (MigrateTables, ReadDB, WriteTx and
// the body store), so their writes share the group commit.
//
// Everything SQLite-specific is confined to db.go; the rest uses gorm's
// portable API so that the metadata can move to PostgreSQL.
package mailstore
