package mailstore

// Small bodies kept inline in the database.
//
// A body stored as a file costs three flushes in a row before its message
// can be acknowledged: the file's data, its folder's entry, and the WAL
// commit of the metadata. A body of at most DefaultInlineMax bytes is kept
// instead in the table inline_bodies, written by the writer in the same
// group-commit transaction as the first metadata that references it: the
// one WAL flush of the commit makes body and metadata durable together, and
// reading it back costs no file open, fstat or close.

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	yubindb "github.com/yubinmail/yubin/internal/db"
	"github.com/yubinmail/yubin/mailstore/blobcrypt"
)

// DefaultInlineMax is the largest body (in bytes, before sealing) kept in
// the database rather than in a file. Inline, a delivery waits for one
// flush instead of three (body, folder, WAL) whatever its size; the price
// is that every inline byte is written twice (WAL, then the checkpoint
// into the database file), and that a read beyond SQLite's page cache
// costs a pread per page where a file costs open, fstat, pread and close.
// SQLite's own measurements ("Internal Versus External BLOBs") find blobs
// up to about 100 KB read faster from the database than from files. 64 KiB
// keeps plain-text and small HTML mail inline, matches the size the file
// path reads whole into memory, and leaves attachments in files. See
// docs/benchmarks.md for the counts behind it.
const DefaultInlineMax = 64 << 10

// inlineBody is a small message body stored in the database. The column
// is body_key, not blob_key: this table keeps bodies, it does not
// reference them (the orphan sweep treats every blob_key column as a
// reference).
//
// WrittenAt comes before Data, so that the orphan sweep's scan of it never
// reads a body's overflow pages, and has no index: one index page fewer
// to write per delivery, for a scan that runs at start only.
type inlineBody struct {
	BodyKey string `gorm:"primaryKey;size:64"`
	// WrittenAt is when the writer committed it (Unix seconds): the orphan
	// sweep leaves young bodies alone.
	WrittenAt int64 `gorm:"not null"`
	// Data is the body as stored: plaintext, or sealed (blobcrypt) with the
	// same keys a file body would be.
	Data []byte `gorm:"not null"`
}

func (inlineBody) TableName() string { return "inline_bodies" }

func inlineModels() []any { return []any{&inlineBody{}} }

// inlineKeyPrefix starts every inline body's key; file keys are 32 hex
// digits, so the two never mix.
const inlineKeyPrefix = "i"

// IsInlineKey reports whether key names a body kept in the database
// (rather than a file of the blob folder).
func IsInlineKey(key string) bool {
	return len(key) == 33 && key[0] == inlineKeyPrefix[0]
}

func newInlineKey() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return inlineKeyPrefix + hex.EncodeToString(b[:])
}

// tieredBlobStore is the store's BlobStore: small bodies inline in the
// database, larger ones in the file store below it. New inline bodies are
// held in memory (and readable from there) until the writer's next commit
// inserts them; Delete of an inline body is likewise applied by the next
// commit.
type tieredBlobStore struct {
	files  BlobStore
	syncer BatchSyncer // files, if it can group flushes; else nil
	sealer *blobcrypt.Sealer
	max    int64 // the largest inline body; 0: none

	get *sql.Stmt // reads one inline body (on the readers' pool)
	// getBatch read several (see BodyReader), one per batchWidths.
	getBatch [len(batchWidths)]*sql.Stmt

	// deleted counts the commits that deleted inline bodies: a
	// BodyReader drops the bodies it read before one.
	deleted atomic.Uint64

	mu      sync.Mutex
	pending map[string][]byte   // written, not yet committed
	deletes map[string]struct{} // to delete at the next commit
	// kick wakes an idle writer to commit deletes (buffered, never blocks).
	kick chan struct{}
}

func newTieredBlobStore(files BlobStore, sealer *blobcrypt.Sealer, max int64) *tieredBlobStore {
	t := &tieredBlobStore{files: files, sealer: sealer, max: max,
		pending: map[string][]byte{}, deletes: map[string]struct{}{}, kick: make(chan struct{}, 1)}
	t.syncer, _ = files.(BatchSyncer)
	return t
}

// prepare readies the read statement once the table exists.
func (t *tieredBlobStore) prepare(ctx context.Context, db *sql.DB, d yubindb.Dialect) error {
	st, err := db.PrepareContext(ctx, d.Rebind("SELECT data FROM inline_bodies WHERE body_key = ?"))
	if err != nil {
		return fmt.Errorf("prepare inline body reads: %w", err)
	}
	t.get = st
	for i, n := range batchWidths {
		if t.getBatch[i], err = db.PrepareContext(ctx, d.Rebind(batchQuery(n))); err != nil {
			return fmt.Errorf("prepare inline body reads: %w", err)
		}
	}
	return nil
}

func (t *tieredBlobStore) close() {
	if t.get != nil {
		t.get.Close()
	}
	for _, st := range t.getBatch {
		if st != nil {
			st.Close()
		}
	}
}

// Put stores r durably before it returns. Bodies written this way go to
// the file store whatever their size: an inline body only becomes durable
// with a commit, which Put cannot wait for (it may be called by a write
// running in the writer itself).
func (t *tieredBlobStore) Put(ctx context.Context, r io.Reader) (string, int64, error) {
	return t.files.Put(ctx, r)
}

// PutUnsynced implements BatchSyncer: a body of at most max bytes is kept
// (sealed if the store seals) for the writer's next commit; a larger one
// goes to the file store.
func (t *tieredBlobStore) PutUnsynced(ctx context.Context, r io.Reader) (string, int64, error) {
	if t.max <= 0 {
		return t.putFile(ctx, r)
	}
	var buf bytes.Buffer
	buf.Grow(8 << 10) // most mail in one allocation, not a series of growing ones
	n, err := buf.ReadFrom(io.LimitReader(r, t.max+1))
	if err != nil {
		return "", 0, fmt.Errorf("put body: %w", err)
	}
	if n > t.max {
		return t.putFile(ctx, io.MultiReader(bytes.NewReader(buf.Bytes()), r))
	}
	key := newInlineKey()
	data := buf.Bytes()
	if sealer := sealerFor(ctx, t.sealer); sealer.CanSeal() {
		if data, err = sealBytes(sealer, key, data); err != nil {
			return "", 0, err
		}
	}
	if err := ctx.Err(); err != nil {
		return "", 0, err
	}
	t.mu.Lock()
	t.pending[key] = data
	t.mu.Unlock()
	return key, n, nil
}

func (t *tieredBlobStore) putFile(ctx context.Context, r io.Reader) (string, int64, error) {
	if t.syncer != nil {
		return t.syncer.PutUnsynced(ctx, r)
	}
	return t.files.Put(ctx, r)
}

// Sync implements BatchSyncer for the file bodies; inline ones become
// durable with the commit itself.
func (t *tieredBlobStore) Sync(ctx context.Context) error {
	if t.syncer != nil {
		return t.syncer.Sync(ctx)
	}
	return nil
}

// sealBytes seals data as the body stored under key.
func sealBytes(sealer *blobcrypt.Sealer, key string, data []byte) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(len(data) + 512)
	w, err := sealer.Seal(&out, key)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, fmt.Errorf("seal body %s: %w", key, err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("seal body %s: %w", key, err)
	}
	return out.Bytes(), nil
}

// Open opens the body under key: an inline body from memory (not yet
// committed) or from the database, a file body from the file store. A
// missing inline body gives an error wrapping fs.ErrNotExist, as a
// missing file does.
func (t *tieredBlobStore) Open(ctx context.Context, key string) (Blob, error) {
	if !IsInlineKey(key) {
		return t.files.Open(ctx, key)
	}
	t.mu.Lock()
	data, pending := t.pending[key]
	_, deleted := t.deletes[key]
	t.mu.Unlock()
	if deleted {
		return nil, fmt.Errorf("open blob %s: %w", key, fs.ErrNotExist)
	}
	if !pending {
		if t.get == nil {
			return nil, fmt.Errorf("open blob %s: %w", key, fs.ErrNotExist)
		}
		err := t.get.QueryRowContext(ctx, key).Scan(&data)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("open blob %s: %w", key, fs.ErrNotExist)
		}
		if err != nil {
			return nil, fmt.Errorf("open blob %s: %w", key, err)
		}
	}
	return openBodyBytes(ctx, t.sealer, key, data, !pending) // a row scanned is ours
}

// openBodyBytes opens a stored body held in memory (plaintext or sealed).
// The blob keeps data; the caller must not change it. A sealed body of up
// to smallBlobSize bytes is decrypted whole into a copy (in place when
// owned says data is the caller's to overwrite), so that it is read as
// plaintext from memory, as a small file body is.
func openBodyBytes(ctx context.Context, sealer *blobcrypt.Sealer, key string, data []byte, owned bool) (Blob, error) {
	if !blobcrypt.IsSealed(data[:min(len(data), blobcrypt.PrefixLen)]) {
		mb := &memBlob{}
		mb.Reset(data)
		return mb, nil
	}
	if len(data) <= smallBlobSize {
		if !owned {
			data = bytes.Clone(data)
		}
		plain, err := sealer.OpenSmallFor(ctx, data, key)
		if err != nil {
			return nil, fmt.Errorf("open blob: %w", err)
		}
		mb := &memBlob{}
		mb.Reset(plain)
		return mb, nil
	}
	body, err := sealer.OpenFor(ctx, bytes.NewReader(data), int64(len(data)), key)
	if err != nil {
		return nil, fmt.Errorf("open blob: %w", err)
	}
	return &sealedBlob{SectionReader: io.NewSectionReader(body, 0, body.Size()), body: body}, nil
}

// Delete removes the body under key. An inline body is removed by the
// writer's next commit (Delete may be called from the writer itself, after
// a commit); it is no longer readable from now on, and a process stopped
// before that commit leaves it to the orphan sweep.
func (t *tieredBlobStore) Delete(ctx context.Context, key string) error {
	if !IsInlineKey(key) {
		return t.files.Delete(ctx, key)
	}
	t.mu.Lock()
	delete(t.pending, key)
	t.deletes[key] = struct{}{}
	t.mu.Unlock()
	select {
	case t.kick <- struct{}{}:
	default:
	}
	return nil
}

// hasDeletes reports whether deletions wait for a commit.
func (t *tieredBlobStore) hasDeletes() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.deletes) > 0
}

// inlineOps are the inline bodies a commit inserts and deletes.
type inlineOps struct {
	puts    map[string][]byte
	deletes []string
}

func (o *inlineOps) empty() bool { return o == nil || len(o.puts) == 0 && len(o.deletes) == 0 }

// takeOps returns what the next commit must write. The bodies stay
// readable from memory until committed (see committed).
func (t *tieredBlobStore) takeOps() *inlineOps {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.pending) == 0 && len(t.deletes) == 0 {
		return nil
	}
	o := &inlineOps{puts: make(map[string][]byte, len(t.pending))}
	for k, v := range t.pending {
		o.puts[k] = v
	}
	for k := range t.deletes {
		o.deletes = append(o.deletes, k)
	}
	return o
}

// insertInlineSQL stores an inline body unless one of that key is there.
const insertInlineSQL = "INSERT INTO inline_bodies (body_key, data, written_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"

// apply writes o in the writer's transaction.
func (o *inlineOps) apply(tx *writeTx) error {
	if o.empty() {
		return nil
	}
	now := time.Now().Unix()
	for k, data := range o.puts {
		if err := tx.txExec(insertInlineSQL, k, data, now); err != nil {
			return fmt.Errorf("store inline body %s: %w", k, err)
		}
	}
	for _, k := range o.deletes {
		if err := deleteInlineTx(tx, k); err != nil {
			return err
		}
	}
	return nil
}

func deleteInlineTx(tx *writeTx, key string) error {
	if err := tx.Exec("DELETE FROM inline_bodies WHERE body_key = ?", key).Error; err != nil {
		return fmt.Errorf("delete inline body %s: %w", key, err)
	}
	if t := tx.store.inline; t != nil {
		tx.onCommit(func() { t.deleted.Add(1) })
	}
	return nil
}

// committed forgets what o wrote, now durable in the database.
func (t *tieredBlobStore) committed(o *inlineOps) {
	if o.empty() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range o.puts {
		delete(t.pending, k)
	}
	for _, k := range o.deletes {
		delete(t.deletes, k)
	}
}

// deleteBodyTx removes a body no metadata references any more: an inline
// one in the transaction itself, a file once the transaction is durable.
func deleteBodyTx(tx *writeTx, key string) error {
	if IsInlineKey(key) {
		if tx.store.inline != nil {
			tx.store.inline.mu.Lock()
			delete(tx.store.inline.pending, key)
			tx.store.inline.mu.Unlock()
		}
		return deleteInlineTx(tx, key)
	}
	tx.onCommit(func() {
		if err := tx.store.blobs.Delete(context.Background(), key); err != nil {
			tx.store.log.Warn("delete unreferenced body", "blob", key, "err", err)
		}
	})
	return nil
}
