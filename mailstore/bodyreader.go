package mailstore

// Bodies read one after another: an IMAP FETCH of BODY[] over a sequence
// set, a POP3 session's RETRs. Read one query each, a small body kept
// inline costs a round trip through database/sql (about twenty
// allocations and a copy) for a few KiB; read in batches, one query
// brings the next few dozen bodies into a buffer the reader reuses.

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/yubinmail/yubin/mailstore/blobcrypt"
)

const (
	// bodyBatchMessages is the most bodies one batched query reads.
	bodyBatchMessages = 64
	// bodyBatchBytes bounds a batch's bytes (by the messages' sizes; a
	// batch always takes at least the body asked for): the memory a
	// FETCH, or a POP3 session reading its maildrop, holds for bodies
	// read ahead. 64 messages of 4 KiB fit, read by one query.
	bodyBatchBytes = 256 << 10
	// keptArena is the largest batch buffer given back to the pool.
	keptArena = 2 * bodyBatchBytes
)

// batchWidths are the numbers of placeholders of the prepared batch
// queries: a batch of n keys uses the smallest that fits, padded with
// keys that match nothing.
var batchWidths = [...]int{8, bodyBatchMessages}

// arenas are the buffers batches are read into.
var arenas = sync.Pool{New: func() any { b := make([]byte, 0, bodyBatchBytes); return &b }}

// BodyReader opens the bodies of messages read one after another, in an
// order known in advance (or guessed: sequential reads widen the window
// read ahead). A body kept inline in the database is read with the ones
// that follow it, in one query on a prepared statement, into a buffer the
// reader reuses; file bodies are opened as Store.OpenMessage does (a
// large one without reading more than its head before it is sent).
//
// A sealed body is authenticated (and decrypted in place) when it is
// opened, as by OpenMessage. A body deleted is not served (RFC 2180's
// grace time keeps an expunged message's body until it is released, so it
// stays readable until then): the bodies read ahead are dropped whenever
// the store deletes an inline body.
//
// A BodyReader is not safe for concurrent use. The Blob Open returns is
// valid until the next Open or Close, whichever comes first.
type BodyReader struct {
	s      *Store
	order  []*MessageMeta // the messages, in the order they are expected
	pos    int            // index in order just after the last one opened
	window int            // how many bodies the next batch reads at most
	keys   []string       // scratch: the keys of a batch

	batch []batchedBody // the bodies the last batch read
	// batchAt is the store's count of inline deletions before the batch
	// was read: after another one, a body of the batch may be gone.
	batchAt uint64
	arena   *[]byte // pooled; holds batch's bytes
	blob    memBlob // the blob handed out last (buf nil: not pooled)
	// worker is the goroutine opening the batch's sealed bodies ahead of
	// the reads (see openAhead); batch and arena wait for it to finish.
	worker sync.WaitGroup
}

// batchedBody is one body of a batch.
type batchedBody struct {
	key        string
	data       []byte // as stored, or its plaintext once plain
	start, end int    // where data is in the arena
	next       int    // 1 + its index in order (0: not from order)
	plain      bool   // data is plaintext (a sealed body is decrypted in place)
	found      bool   // the query found it
	// opened, if not nil, is closed once the batch's worker has opened
	// the (sealed) body: data and plain are the worker's until then, and
	// err is what opening it gave.
	opened chan struct{}
	err    error
}

// NewBodyReader returns a reader for the bodies of order, which it
// expects to be opened in that order (it may be nil, or open others).
// With readAhead, the first batch reads as far ahead as allowed (the
// caller will read them all); without, the window starts at one body and
// grows while the reads follow order.
func (s *Store) NewBodyReader(order []*MessageMeta, readAhead bool) *BodyReader {
	r := &BodyReader{s: s, order: order, window: 1}
	if readAhead {
		r.window = bodyBatchMessages
	}
	return r
}

// Open opens m's body (see BodyReader). ctx carries the session's key of
// user-key encryption, as for OpenMessage.
func (r *BodyReader) Open(ctx context.Context, m *MessageMeta) (Blob, error) {
	b, err := r.open(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("open message %d: %w", m.UID, err)
	}
	return b, nil
}

func (r *BodyReader) open(ctx context.Context, m *MessageMeta) (Blob, error) {
	key := m.BlobKey
	t := r.s.inline
	if !IsInlineKey(key) || t == nil || t.getBatch[0] == nil {
		if fb, ok := r.s.files.(*FileBlobStore); ok && m.Size > smallBlobSize && !IsInlineKey(key) {
			return fb.openLarge(ctx, key)
		}
		return r.s.blobs.Open(ctx, key)
	}
	// A body deleted, or written and not committed yet, is as the
	// tiered store says; the batch query would not find the latter.
	t.mu.Lock()
	_, pending := t.pending[key]
	_, deleted := t.deletes[key]
	t.mu.Unlock()
	if pending || deleted {
		return t.Open(ctx, key)
	}
	if len(r.batch) > 0 && t.deleted.Load() != r.batchAt {
		r.batch = r.batch[:0]
	}
	i := r.find(key)
	if i < 0 {
		if err := r.read(ctx, m); err != nil {
			return nil, err
		}
		if i = r.find(key); i < 0 {
			return nil, fmt.Errorf("open blob %s: batch lost it", key)
		}
	}
	e := &r.batch[i]
	if e.next > 0 {
		r.pos = e.next
	}
	if !e.found {
		// Not in the database when the batch was read: deleted, or
		// committed since (the tiered store knows which).
		return t.Open(ctx, key)
	}
	if e.opened != nil {
		<-e.opened
		e.opened = nil
		if e.err != nil {
			e.found = false // decrypted in place, in part
			return nil, fmt.Errorf("open blob: %w", e.err)
		}
	}
	if !e.plain && blobcrypt.IsSealed(e.data[:min(len(e.data), blobcrypt.PrefixLen)]) {
		if len(e.data) > smallBlobSize {
			// More than one chunk: authenticated chunk by chunk as read,
			// from the batch's memory.
			return openBodyBytes(ctx, t.sealer, key, e.data, true)
		}
		plain, err := t.sealer.OpenSmallFor(ctx, e.data, key)
		if err != nil {
			// Decryption in place may have overwritten part of it.
			e.found = false
			return nil, fmt.Errorf("open blob: %w", err)
		}
		e.data = plain
	}
	e.plain = true
	r.blob.Reset(e.data)
	return &r.blob, nil
}

// find returns the index in the batch of key, or -1.
func (r *BodyReader) find(key string) int {
	for i := range r.batch {
		if r.batch[i].key == key {
			return i
		}
	}
	return -1
}

// read reads a new batch: m's body and, within the window, those of the
// inline bodies that follow m in order.
func (r *BodyReader) read(ctx context.Context, m *MessageMeta) error {
	r.worker.Wait()
	// Where m is in order: next, most of the time (a client reading a
	// maildrop again starts over).
	at := r.indexOf(m, r.pos, len(r.order))
	if at < 0 {
		at = r.indexOf(m, 0, min(r.pos, len(r.order)))
	}
	if at >= 0 {
		if at == r.pos && r.pos > 0 && r.window < bodyBatchMessages {
			r.window = min(r.window*4, bodyBatchMessages) // sequential: read further ahead
		}
		r.pos = at + 1
	}
	keys := append(r.keys[:0], m.BlobKey)
	r.batch = append(r.batch[:0], batchedBody{key: m.BlobKey, next: at + 1})
	bytes := m.Size
	if at >= 0 {
		for j := at + 1; j < len(r.order) && len(keys) < r.window; j++ {
			n := r.order[j]
			if bytes+n.Size > bodyBatchBytes {
				break
			}
			if IsInlineKey(n.BlobKey) && !containsKey(keys, n.BlobKey) {
				keys = append(keys, n.BlobKey)
				r.batch = append(r.batch, batchedBody{key: n.BlobKey, next: j + 1})
				bytes += n.Size
			}
		}
	}
	r.keys = keys
	if r.arena == nil {
		r.arena = arenas.Get().(*[]byte)
	}
	arena := (*r.arena)[:0]
	r.batchAt = r.s.inline.deleted.Load()
	// Offsets into arena first: it may grow while the rows are read.
	err := r.s.inline.readBatch(ctx, keys, func(i int, data []byte) {
		e := &r.batch[i]
		e.start = len(arena)
		arena = append(arena, data...)
		e.end, e.found = len(arena), true
	})
	*r.arena = arena
	if err != nil {
		r.batch = r.batch[:0]
		return err
	}
	for i := range r.batch {
		if e := &r.batch[i]; e.found {
			e.data = arena[e.start:e.end:e.end]
		}
	}
	r.openAhead(ctx)
	return nil
}

// openAhead starts a goroutine that authenticates and decrypts (in
// place) the sealed bodies of the batch after the first, in order, while
// the caller sends the ones before: the work of encryption at rest then
// runs beside the network's instead of after it. Only with more than one
// CPU to run on.
func (r *BodyReader) openAhead(ctx context.Context) {
	if len(r.batch) < 2 || runtime.GOMAXPROCS(0) < 2 {
		return
	}
	sealer := r.s.inline.sealer
	ahead := r.batch[1:]
	n := 0
	for i := range ahead {
		e := &ahead[i]
		if e.found && len(e.data) <= smallBlobSize && blobcrypt.IsSealed(e.data[:min(len(e.data), blobcrypt.PrefixLen)]) {
			e.opened = make(chan struct{})
			n++
		}
	}
	if n == 0 {
		return
	}
	r.worker.Add(1)
	go func() {
		defer r.worker.Done()
		for i := range ahead {
			e := &ahead[i]
			if e.opened == nil {
				continue
			}
			plain, err := sealer.OpenSmallFor(ctx, e.data, e.key)
			if err != nil {
				e.err = err
			} else {
				e.data, e.plain = plain, true
			}
			close(e.opened)
		}
	}()
}

// indexOf returns the index of m in order[from:to], or -1.
func (r *BodyReader) indexOf(m *MessageMeta, from, to int) int {
	for i := from; i < to; i++ {
		if r.order[i] == m || r.order[i].BlobKey == m.BlobKey {
			return i
		}
	}
	return -1
}

func containsKey(keys []string, k string) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}

// Close releases the reader's buffer. The reader may be used again (it
// then takes another buffer).
func (r *BodyReader) Close() {
	r.worker.Wait()
	r.blob.Reset(nil)
	r.batch = r.batch[:0]
	if r.arena != nil {
		if cap(*r.arena) <= keptArena {
			clear((*r.arena)[:cap(*r.arena)][:len(*r.arena)]) // plaintext of sealed bodies
			*r.arena = (*r.arena)[:0]
			arenas.Put(r.arena)
		}
		r.arena = nil
	}
}

// readBatch reads the inline bodies of keys (at most bodyBatchMessages,
// without duplicates) in one query, calling fn with the index in keys of
// each one found and its stored bytes, which fn must copy.
func (t *tieredBlobStore) readBatch(ctx context.Context, keys []string, fn func(i int, data []byte)) error {
	w := 0
	for w < len(batchWidths)-1 && batchWidths[w] < len(keys) {
		w++
	}
	if len(keys) > batchWidths[w] {
		return fmt.Errorf("read %d inline bodies at once: more than %d", len(keys), batchWidths[w])
	}
	args := make([]any, batchWidths[w])
	for i := range args {
		if i < len(keys) {
			args[i] = keys[i]
		} else {
			args[i] = "" // no body has an empty key
		}
	}
	// Read without a goroutine per row (see rowsContext): a batch is a
	// few dozen rows, read before ctx is looked at again.
	rows, err := t.getBatch[w].QueryContext(rowsContext(ctx), args...)
	if err != nil {
		return fmt.Errorf("read inline bodies: %w", err)
	}
	defer rows.Close()
	var key, data sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&key, &data); err != nil {
			return fmt.Errorf("read inline bodies: %w", err)
		}
		for i, k := range keys {
			if k == string(key) {
				fn(i, data)
				break
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read inline bodies: %w", err)
	}
	return nil
}

// batchQuery is the query that reads up to n inline bodies by key.
// (Placeholders are '?': PostgreSQL through database/sql needs $1….)
func batchQuery(n int) string {
	return "SELECT body_key, data FROM inline_bodies WHERE body_key IN (?" + strings.Repeat(", ?", n-1) + ")"
}
