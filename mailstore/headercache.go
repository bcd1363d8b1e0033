package mailstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	yubindb "github.com/yubinmail/yubin/internal/db"
	"github.com/yubinmail/yubin/mailstore/blobcrypt"
	"github.com/yubinmail/yubin/mailstore/imap/imapmsg"
)

// The header cache: per body, the header fields that ENVELOPE, SORT,
// THREAD and the SEARCH keys on addresses, subject and date need (see
// imapmsg.CachedHeader), so that IMAP answers those without opening the
// message. It is written with the body's first message (delivery, APPEND,
// import; COPY and MOVE share the body and so its cache), and for bodies
// stored before the cache existed, once, the first time a listing asks
// for it (ListMessagesWithHeaders). It goes with the body.
//
// Encrypted bodies have none: with encryption at rest (a server key, or a
// user's key) the header text must not sit in the database in plaintext,
// so the cache is off, and the rows of a time before are removed when the
// store opens.

// messageHeader is the cached header of a body.
type messageHeader struct {
	BodyKey string `gorm:"primaryKey;size:64"` // the body's blob key (not named blob_key: it keeps no body alive)
	// Header is the cached header; nil when the body cannot have one (it
	// is encrypted, or its header is longer than imapmsg.MaxHeaderBytes).
	Header []byte
}

// TableName names the table of cached headers.
func (messageHeader) TableName() string { return "message_headers" }

func headerCacheModels() []any { return []any{&messageHeader{}} }

// maxHeaderTap bounds the start of a new body kept to make its cached
// header; a longer header is cached at its first listing instead.
const maxHeaderTap = 64 << 10

// headerTap passes a body through and keeps its start, up to the end of
// its header block (or maxHeaderTap bytes).
type headerTap struct {
	r    io.Reader
	buf  []byte
	done bool
}

func (t *headerTap) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if !t.done && n > 0 {
		from := max(len(t.buf)-2, 0)
		t.buf = append(t.buf, p[:min(n, maxHeaderTap-len(t.buf))]...)
		tail := t.buf[from:]
		if len(t.buf) >= maxHeaderTap || bytes.Contains(tail, []byte("\n\r\n")) || bytes.Contains(tail, []byte("\n\n")) {
			t.done = true
		}
	}
	return n, err
}

// cached returns the cached header of the body of size bytes read through
// t, or nil when it cannot be made from what t kept.
func (t *headerTap) cached(size int64) []byte {
	h, ok := imapmsg.CachedHeader(t.buf, int64(len(t.buf)) == size)
	if !ok {
		return nil
	}
	return h
}

// newHeaderTap returns a tap on r if the store keeps cached headers and
// the body is not sealed to a user's key (sealed: it has a sealer), else
// nil.
func (s *Store) newHeaderTap(r io.Reader, sealed bool) *headerTap {
	if !s.headerCache || sealed {
		return nil
	}
	return &headerTap{r: r}
}

// insertCachedHeaderTx records the cached header of a new body.
func insertCachedHeaderTx(tx *writeTx, key string, header []byte) error {
	if err := tx.txExec("INSERT INTO message_headers (body_key, header) VALUES (?, ?) ON CONFLICT DO NOTHING", key, header); err != nil {
		return fmt.Errorf("cache the header of body %s: %w", key, err)
	}
	return nil
}

// deleteCachedHeaderTx forgets the cached header of a body that goes away.
func deleteCachedHeaderTx(tx *writeTx, key string) error {
	return tx.Exec("DELETE FROM message_headers WHERE body_key = ?", key).Error
}

// dropCachedHeaders removes every cached header: the store encrypts at
// rest, and keeps no header text in plaintext.
func (s *Store) dropCachedHeaders(ctx context.Context) error {
	var n int64
	if err := yubindb.FirstRow(s.db.WithContext(ctx).Raw("SELECT COUNT(*) FROM (SELECT 1 FROM message_headers WHERE header IS NOT NULL LIMIT 1) AS one").Rows()).Scan(&n); err != nil || n == 0 {
		return err
	}
	return s.write(ctx, func(tx *writeTx) error {
		return tx.Exec("DELETE FROM message_headers").Error
	})
}

// ListMessagesWithHeaders is ListMessages that also gives each message
// its CachedHeader, from memory (see headermem.go) or read by body key;
// bodies stored before the
// cache existed get theirs now (their header is read once). A message
// whose body has none (see messageHeader) has a nil CachedHeader.
func (s *Store) ListMessagesWithHeaders(ctx context.Context, mailboxID int64, set UIDSet) ([]MessageMeta, error) {
	if !s.headerCache {
		return s.ListMessages(ctx, mailboxID, set)
	}
	out, err := s.ListMessages(ctx, mailboxID, set)
	if err != nil {
		return nil, err
	}
	missing, err := s.attachCachedHeaders(ctx, out, len(out) <= maxHeaderMemoryListing)
	if err != nil {
		return nil, err
	}
	// A context with a user's key could open bodies sealed to it, whose
	// header must not be cached in plaintext.
	if len(missing) > 0 && blobcrypt.SessionKeyFrom(ctx) == nil {
		if err := s.fillCachedHeaders(ctx, out, missing); err != nil {
			// The answers are still right: from the bodies, not the cache.
			s.log.Warn("cache message headers", "mailbox", mailboxID, "err", err)
		}
	}
	return out, nil
}

// ListMessagesWithHeadersAs is ListMessagesWithHeaders as user userID
// sees the mailbox (see ListMessagesAs).
func (s *Store) ListMessagesWithHeadersAs(ctx context.Context, userID, mailboxID int64, set UIDSet) ([]MessageMeta, error) {
	return s.listMessagesAs(ctx, userID, mailboxID, set, s.ListMessagesWithHeaders)
}

// fillChunk bounds the cached headers written in one transaction.
const fillChunk = 500

// fillCachedHeaders makes and records the cached headers of the bodies of
// metas[missing], which have none yet, and sets them in metas. A body
// that cannot be read for want of a key is recorded as having none; one
// that cannot be read otherwise is left for another time.
func (s *Store) fillCachedHeaders(ctx context.Context, metas []MessageMeta, missing []int) error {
	made := map[string][]byte{}
	var order []string
	for _, i := range missing {
		key := metas[i].BlobKey
		if _, ok := made[key]; ok {
			continue
		}
		h, err := s.readCachedHeader(ctx, key)
		if err != nil {
			s.log.Debug("cache message header", "blob", key, "err", err)
			continue
		}
		made[key] = h
		order = append(order, key)
	}
	for _, i := range missing {
		metas[i].CachedHeader = made[metas[i].BlobKey]
	}
	for chunk := range slices.Chunk(order, fillChunk) {
		err := s.write(ctx, func(tx *writeTx) error {
			for _, key := range chunk {
				// Only while a message still has the body: it may have
				// been expunged since it was read.
				if err := tx.Exec("INSERT INTO message_headers (body_key, header) SELECT ?, ? WHERE EXISTS (SELECT 1 FROM messages WHERE blob_key = ?) ON CONFLICT DO NOTHING",
					key, made[key], key).Error; err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("record cached headers: %w", err)
		}
	}
	return nil
}

// readCachedHeader reads the start of a body and makes its cached header;
// nil (and no error) for a body that is encrypted or whose header is too
// long to cache. ctx carries no user's key: a body sealed to one is
// locked here, and gets none.
func (s *Store) readCachedHeader(ctx context.Context, key string) ([]byte, error) {
	b, err := s.blobs.Open(ctx, key)
	if errors.Is(err, ErrBodyLocked) || errors.Is(err, ErrBodyNoKey) || errors.Is(err, ErrBodyCorrupt) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer b.Close()
	raw, err := imapmsg.ReadHeader(b)
	if err != nil {
		return nil, fmt.Errorf("read body %s: %w", key, err)
	}
	h, ok := imapmsg.CachedHeader(raw, int64(len(raw)) == b.Size())
	if !ok {
		return nil, nil
	}
	return h, nil
}
