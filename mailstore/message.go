package mailstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/core"
	yubindb "github.com/yubinmail/yubin/internal/db"
	"github.com/yubinmail/yubin/mailstore/blobcrypt"
)

// System flags (RFC 9051 §2.3.2).
const (
	FlagSeen     = `\Seen`
	FlagAnswered = `\Answered`
	FlagFlagged  = `\Flagged`
	FlagDeleted  = `\Deleted`
	FlagDraft    = `\Draft`
)

var systemFlags = []string{FlagAnswered, FlagDeleted, FlagDraft, FlagFlagged, FlagSeen}

// MessageMeta is a message's metadata as the protocol servers see it.
type MessageMeta struct {
	UID          uint32
	Size         int64
	InternalDate time.Time
	ModSeq       int64
	Flags        []string
	BlobKey      string
	// SaveDate is when the message was added to its mailbox (RFC 8514);
	// COPY and MOVE give the copy a new one.
	SaveDate time.Time
	// CachedHeader is the body's cached header (see headercache.go),
	// filled by ListMessagesWithHeaders only; nil: none.
	CachedHeader []byte
}

// HasFlag reports whether the message carries flag (case-insensitively).
func (m *MessageMeta) HasFlag(flag string) bool {
	for _, f := range m.Flags {
		if strings.EqualFold(f, flag) {
			return true
		}
	}
	return false
}

// UIDRange is an inclusive range of UIDs; Stop 0 means no upper bound.
type UIDRange struct{ Start, Stop uint32 }

// UIDSet is a set of UIDs as ranges; a nil set means every message.
type UIDSet []UIDRange

// Contains reports whether uid is in the set (a nil set contains all).
func (set UIDSet) Contains(uid uint32) bool {
	if set == nil {
		return true
	}
	for _, r := range set {
		if uid >= r.Start && (r.Stop == 0 || uid <= r.Stop) {
			return true
		}
	}
	return false
}

// UIDs returns the set of exactly these UIDs.
func UIDs(uids ...uint32) UIDSet {
	set := make(UIDSet, 0, len(uids))
	for _, u := range uids {
		set = append(set, UIDRange{u, u})
	}
	return set
}

// maxSQLRanges is how many ranges are turned into SQL; larger sets are
// filtered in Go.
const maxSQLRanges = 32

func whereUIDs(q *gorm.DB, set UIDSet) *gorm.DB {
	if set == nil || len(set) > maxSQLRanges {
		return q
	}
	var conds []string
	var args []any
	for _, r := range set {
		if r.Stop == 0 {
			conds = append(conds, "uid >= ?")
			args = append(args, r.Start)
		} else {
			conds = append(conds, "uid BETWEEN ? AND ?")
			args = append(args, r.Start, r.Stop)
		}
	}
	if len(conds) == 0 {
		return q.Where("1 = 0")
	}
	return q.Where("("+strings.Join(conds, " OR ")+")", args...)
}

func filterRows(rows []messageRow, set UIDSet) []messageRow {
	if len(set) <= maxSQLRanges {
		return rows
	}
	out := rows[:0]
	for _, r := range rows {
		if set.Contains(r.UID) {
			out = append(out, r)
		}
	}
	return out
}

func splitFlags(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

// CanonicalFlags validates flags and returns them deduplicated and sorted,
// with system flags in their standard spelling. \Recent cannot be stored and
// is dropped.
func CanonicalFlags(flags []string) ([]string, error) {
	var out []string
	for _, f := range flags {
		if strings.HasPrefix(f, `\`) {
			i := slices.IndexFunc(systemFlags, func(sf string) bool { return strings.EqualFold(sf, f) })
			if i < 0 {
				if strings.EqualFold(f, `\Recent`) {
					continue
				}
				return nil, fmt.Errorf("flag %q: unknown system flag: %w", f, core.ErrInvalid)
			}
			f = systemFlags[i]
		} else if f == "" || len(f) > 100 || strings.ContainsAny(f, " (){%*\"\\]\x7f") || strings.IndexFunc(f, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
			return nil, fmt.Errorf("flag %q: not a valid keyword: %w", f, core.ErrInvalid)
		}
		if !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, f) }) {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out, nil
}

func hasFlag(flags []string, flag string) bool {
	return slices.ContainsFunc(flags, func(f string) bool { return strings.EqualFold(f, flag) })
}

// ListMessages returns the metadata of the messages of a mailbox in set (nil:
// all), ordered by UID.
//
// It runs before most IMAP commands (FETCH, SEARCH, STORE …), so it reads
// the columns it needs straight into the result: gorm's reflective
// scanning into messageRow cost about half of the call. Messages with the
// same flags share one Flags slice: callers must not change it.
func (s *Store) ListMessages(ctx context.Context, mailboxID int64, set UIDSet) ([]MessageMeta, error) {
	// The dates as text, parsed by parseStoredTime (see storedtime.go).
	cols := "uid, size, CAST(internal_date AS TEXT), mod_seq, flags, blob_key, CAST(save_date AS TEXT)"
	q := s.db.WithContext(rowsContext(ctx)).Table("messages")
	rows, err := whereUIDs(q.Select(cols).Where("mailbox_id = ?", mailboxID), set).Order("uid").Rows()
	if err != nil {
		return nil, fmt.Errorf("list messages of mailbox %d: %w", mailboxID, err)
	}
	defer rows.Close()
	out := []MessageMeta{}
	// Scanned into the same variables for every row (Scan sets each one).
	var m MessageMeta
	var flags, date string
	var saved sql.NullString
	lists := flagLists{}
	dest := []any{&m.UID, &m.Size, &date, &m.ModSeq, &flags, &m.BlobKey, &saved}
	for n := 0; rows.Next(); n++ {
		if n%rowsCheck == rowsCheck-1 && ctx.Err() != nil {
			return nil, fmt.Errorf("list messages of mailbox %d: %w", mailboxID, ctx.Err())
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("list messages of mailbox %d: %w", mailboxID, err)
		}
		if len(set) > maxSQLRanges && !set.Contains(m.UID) {
			continue // filtered in Go (see whereUIDs)
		}
		m.Flags = lists.get(flags)
		if m.InternalDate, err = parseStoredTime(date); err != nil {
			return nil, fmt.Errorf("list messages of mailbox %d: message %d: %w", mailboxID, m.UID, err)
		}
		m.SaveDate = m.InternalDate
		if saved.Valid {
			if m.SaveDate, err = parseStoredTime(saved.String); err != nil {
				return nil, fmt.Errorf("list messages of mailbox %d: message %d: %w", mailboxID, m.UID, err)
			}
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list messages of mailbox %d: %w", mailboxID, err)
	}
	return out, nil
}

// OpenMessage opens a message's raw bytes (CRLF line endings).
func (s *Store) OpenMessage(ctx context.Context, m *MessageMeta) (Blob, error) {
	b, err := s.blobs.Open(ctx, m.BlobKey)
	if err != nil {
		return nil, fmt.Errorf("open message %d: %w", m.UID, err)
	}
	return b, nil
}

// putBody stores a new message body, normalised to CRLF; unsynced when the
// blob store can group flushes (writeBody then flushes it before commit).
func (s *Store) putBody(ctx context.Context, r io.Reader) (string, int64, error) {
	return s.putRawBody(ctx, newCRLFReader(r))
}

// putRawBody is putBody without the CRLF normalisation: IMAP APPEND keeps
// the bytes the client gave, byte for byte (the normalisation is SMTP's).
func (s *Store) putRawBody(ctx context.Context, r io.Reader) (string, int64, error) {
	if s.syncer != nil {
		return s.syncer.PutUnsynced(ctx, r)
	}
	return s.blobs.Put(ctx, r)
}

// writeBody is write for changes that reference a body from putBody.
func (s *Store) writeBody(ctx context.Context, fn func(tx *writeTx) error) error {
	if s.syncer != nil {
		return s.writeWithBlobs(ctx, fn)
	}
	return s.write(ctx, fn)
}

// DeliveryTarget is one mailbox a delivered message goes to.
type DeliveryTarget struct {
	UserID int64
	// Mailbox is a mailbox name, or a special use such as `\Junk`; "" or a
	// mailbox that does not exist means INBOX.
	Mailbox string
	// Create makes a named Mailbox that does not exist (and subscribes
	// it) in the delivery's transaction, as Sieve's fileinto :create asks
	// (RFC 5490); if it cannot be made (an invalid name, the mailbox
	// limit) the copy goes to INBOX.
	Create bool
	Flags  []string
	// HeaderPrefix is header field lines put on top of this target's copy
	// only (e.g. its Delivered-To), each ending with a line end; "" for
	// none. Targets with the same prefix share one stored body.
	HeaderPrefix string
}

// Delivery is one message for one or more local mailboxes.
type Delivery struct {
	Targets      []DeliveryTarget
	Body         io.Reader // the whole message; line endings are normalised to CRLF
	InternalDate time.Time // zero: now
	EnforceQuota bool      // refuse targets whose quota the message would exceed
	// AllOrNothing delivers to every target or to none: when one target
	// fails, no copy is made, and the targets that would have had one get
	// ErrNotDelivered.
	AllOrNothing bool
}

// ErrNotDelivered is the DeliveryResult.Err of a target of an
// AllOrNothing delivery that was not made because another target failed.
var ErrNotDelivered = errors.New("not delivered: another recipient of the message could not take it")

// errDeliveryAborted rolls back an AllOrNothing delivery.
var errDeliveryAborted = errors.New("delivery aborted")

// DeliveryResult is the outcome for one target.
type DeliveryResult struct {
	MailboxID int64
	UID       uint32
	Err       error // e.g. wrapping core.ErrOverQuota
}

// Deliver stores a message and makes it appear in every target's mailbox.
// Targets without a HeaderPrefix, or with the same one, share one stored
// body; each distinct HeaderPrefix gets its own body (the prefix, then the
// message), all written before the one metadata transaction that references
// them. When it returns without error, the bodies and the metadata of every
// target without an Err are durable; bodies no target kept are removed.
func (s *Store) Deliver(ctx context.Context, d Delivery) ([]DeliveryResult, error) {
	if len(d.Targets) == 0 {
		return nil, fmt.Errorf("deliver: no targets: %w", core.ErrInvalid)
	}
	bodies, bodyOf, err := s.putDeliveryBodies(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("deliver: %w", err)
	}
	date := d.InternalDate
	if date.IsZero() {
		date = time.Now()
	}
	date = date.UTC().Truncate(time.Second)
	results := make([]DeliveryResult, len(d.Targets))
	err = s.writeBody(ctx, func(tx *writeTx) error {
		// The writer may run this again after a batch rollback: start clean.
		clear(results)
		headerDone := make([]bool, len(bodies))
		for i, t := range d.Targets {
			flags, err := CanonicalFlags(t.Flags)
			if err != nil {
				results[i].Err = err
				continue
			}
			mb, err := deliveryMailbox(tx, t.UserID, t.Mailbox, t.Create)
			if err != nil {
				results[i].Err = err
				continue
			}
			b := bodies[bodyOf[i]]
			uids, err := insertMessages(tx, t.UserID, mb, []messageRow{{BlobKey: b.key, Size: b.size, InternalDate: date, Flags: strings.Join(flags, " ")}}, d.EnforceQuota, 0)
			if errors.Is(err, core.ErrOverQuota) || errors.Is(err, core.ErrNotFound) {
				// Refused before anything was written: only this target fails.
				results[i].Err = err
				continue
			}
			if err != nil {
				// A statement failed half-way: fail the whole write so that
				// the transaction is rolled back.
				return err
			}
			results[i].MailboxID, results[i].UID = mb.ID, uids[0]
			if b.header != nil && !headerDone[bodyOf[i]] {
				headerDone[bodyOf[i]] = true
				if err := insertCachedHeaderTx(tx, b.key, b.header); err != nil {
					return err
				}
			}
		}
		if d.AllOrNothing && slices.ContainsFunc(results, func(r DeliveryResult) bool { return r.Err != nil }) {
			return errDeliveryAborted // rolls back the copies made
		}
		return nil
	})
	if errors.Is(err, errDeliveryAborted) {
		for i := range results {
			if results[i].Err == nil {
				results[i] = DeliveryResult{Err: ErrNotDelivered}
			}
		}
		err = nil
	}
	if err != nil {
		s.deleteBodies(ctx, bodies)
		return nil, fmt.Errorf("deliver %s: %w", bodies[0].key, err)
	}
	// Remove the bodies no target kept.
	kept := make([]bool, len(bodies))
	for i, r := range results {
		if r.Err == nil {
			kept[bodyOf[i]] = true
		}
	}
	var unused []storedBody
	for j, b := range bodies {
		if !kept[j] {
			unused = append(unused, b)
		}
	}
	s.deleteBodies(ctx, unused)
	return results, nil
}

// storedBody is one body written for a delivery.
type storedBody struct {
	key  string
	size int64
	// header is its cached header (see headercache.go); nil: none yet.
	header []byte
}

// putDeliveryBodies writes the bodies of d: one per distinct HeaderPrefix
// and sealing key (a user of user-key mode gets a body sealed to their own
// key), in the order they first appear. bodyOf[i] is the index of target
// i's body. The message is read from d.Body once, into the first body; the
// others are that body's message part behind their own prefix, read back
// from the blob store, so d.Body need not be readable twice. A first body
// sealed to a user's key is also sealed to a key held in memory for the
// read-back only.
func (s *Store) putDeliveryBodies(ctx context.Context, d Delivery) (bodies []storedBody, bodyOf []int, err error) {
	userIDs := make([]int64, len(d.Targets))
	for i, t := range d.Targets {
		userIDs[i] = t.UserID
	}
	publics, err := s.userPublicKeys(ctx, userIDs)
	if err != nil {
		return nil, nil, err
	}
	type bodyKind struct{ prefix, public string }
	kinds := make([]bodyKind, 0, 1)
	index := make(map[bodyKind]int, 1)
	bodyOf = make([]int, len(d.Targets))
	for i, t := range d.Targets {
		p, err := canonicalHeaderPrefix(t.HeaderPrefix)
		if err != nil {
			return nil, nil, err
		}
		k := bodyKind{p, publics[t.UserID]}
		j, ok := index[k]
		if !ok {
			j = len(kinds)
			index[k] = j
			kinds = append(kinds, k)
		}
		bodyOf[i] = j
	}
	sealers := make([]*blobcrypt.Sealer, len(kinds))
	for j, k := range kinds {
		if k.public != "" {
			if sealers[j], err = blobcrypt.UserSealer(k.public); err != nil {
				return nil, nil, err
			}
		}
	}
	readCtx := ctx
	firstSealer := sealers[0]
	if firstSealer != nil && len(kinds) > 1 {
		eph, err := blobcrypt.EphemeralSealer()
		if err != nil {
			return nil, nil, err
		}
		firstSealer = blobcrypt.Join(firstSealer, eph)
		readCtx = blobcrypt.WithSessionKey(ctx, eph)
	}
	// The prefix is CRLF already and ends with a line end, so normalising
	// it with the message changes nothing in either.
	var in io.Reader = newCRLFReader(io.MultiReader(strings.NewReader(kinds[0].prefix), d.Body))
	tap := s.newHeaderTap(in, false)
	if tap != nil {
		in = tap
	}
	key, size, err := s.putRawBody(withSealer(ctx, firstSealer), in)
	if err != nil {
		return nil, nil, err
	}
	// cachedHeader is the cached header of body j, nil for one that is
	// sealed (see headercache.go).
	cachedHeader := func(j int, size int64) []byte {
		if tap == nil || sealers[j] != nil || len(tap.buf) < len(kinds[0].prefix) {
			return nil
		}
		if j == 0 {
			return tap.cached(size)
		}
		t := headerTap{buf: append([]byte(kinds[j].prefix), tap.buf[len(kinds[0].prefix):]...)}
		return t.cached(size)
	}
	bodies = append(bodies, storedBody{key, size, cachedHeader(0, size)})
	if len(kinds) == 1 {
		return bodies, bodyOf, nil
	}
	first, err := s.blobs.Open(readCtx, key)
	if err != nil {
		s.deleteBodies(ctx, bodies)
		return nil, nil, fmt.Errorf("read back body %s: %w", key, err)
	}
	defer first.Close()
	skip := int64(len(kinds[0].prefix))
	for j, kind := range kinds[1:] {
		p := kind.prefix
		message := io.NewSectionReader(first, skip, size-skip)
		k, n, err := s.putRawBody(withSealer(ctx, sealers[j+1]), io.MultiReader(strings.NewReader(p), message))
		if err == nil && n != int64(len(p))+size-skip {
			err = fmt.Errorf("copy of body %s: wrote %d bytes, want %d", key, n, int64(len(p))+size-skip)
			bodies = append(bodies, storedBody{key: k, size: n})
		}
		if err != nil {
			s.deleteBodies(ctx, bodies)
			return nil, nil, err
		}
		bodies = append(bodies, storedBody{k, n, cachedHeader(j+1, n)})
	}
	return bodies, bodyOf, nil
}

// canonicalHeaderPrefix checks that p is whole header field lines (or
// nothing) and returns it with CRLF line ends.
func canonicalHeaderPrefix(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	p = strings.ReplaceAll(strings.ReplaceAll(p, "\r\n", "\n"), "\n", "\r\n")
	if !strings.HasSuffix(p, "\r\n") || strings.HasPrefix(p, "\r\n") || strings.Contains(p, "\r\n\r\n") || strings.ContainsAny(strings.ReplaceAll(p, "\r\n", ""), "\r\x00") {
		return "", fmt.Errorf("header prefix %.40q: not whole header field lines: %w", p, core.ErrInvalid)
	}
	return p, nil
}

// deleteBodies removes bodies written for a delivery that no message
// references; a failure only leaves an unreferenced file behind.
func (s *Store) deleteBodies(ctx context.Context, bodies []storedBody) {
	for _, b := range bodies {
		if err := s.blobs.Delete(context.WithoutCancel(ctx), b.key); err != nil {
			s.log.Warn("remove undelivered body", "blob", b.key, "err", err)
		}
	}
}

func deliveryMailbox(tx *writeTx, userID int64, name string, create bool) (*Mailbox, error) {
	mb := Mailbox{UserID: userID}
	var row *yubindb.Row
	canonical := ""
	switch {
	case strings.HasPrefix(name, `\`):
		r := tx.txRow("SELECT id, uid_validity FROM mailboxes WHERE user_id = ? AND special_use = ? ORDER BY id LIMIT 1", userID, canonicalSpecialUse(name))
		row = &r
	case name != "":
		if n, err := CanonicalMailboxName(name); err == nil {
			canonical = n
			r := tx.txRow("SELECT id, uid_validity FROM mailboxes WHERE user_id = ? AND name = ?", userID, n)
			row = &r
		}
	}
	if row != nil {
		err := row.Scan(&mb.ID, &mb.UIDValidity)
		if err == nil {
			return &mb, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
	}
	if create && canonical != "" {
		made, err := createMailboxTx(tx, userID, canonical, "")
		switch {
		case err == nil:
			return made, nil
		case !errors.Is(err, ErrTooManyMailboxes):
			return nil, err
		}
	}
	err := tx.txRow("SELECT id, uid_validity FROM mailboxes WHERE user_id = ? AND name = ?", userID, Inbox).Scan(&mb.ID, &mb.UIDValidity)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("INBOX of user %d: %w", userID, core.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return &mb, nil
}

// quotaSQL reads a user's and their domain's quota and usage.
const quotaSQL = "SELECT u.quota_bytes, u.quota_messages, u.used_bytes, u.used_messages, u.quota_warning_percent, d.quota_bytes, d.used_bytes FROM users u JOIN domains d ON d.id = u.domain_id WHERE u.id = ?"

// insertMessages appends rows to mb, allocating UIDs and a new MODSEQ,
// updating the owner's usage (checking the quota if asked), and publishing
// the event. rows need BlobKey, Size, InternalDate and Flags set. It is on
// the delivery hot path, so it uses few, simple statements.
func insertMessages(tx *writeTx, userID int64, mb *Mailbox, rows []messageRow, checkQuota bool, fromMailbox int64) ([]uint32, error) {
	var addBytes int64
	for _, r := range rows {
		addBytes += r.Size
	}
	// before is the user's usage before this change, when the quota check
	// read it (the writer holds the write lock: nothing changes it
	// meanwhile).
	var before *quotaUsage
	if checkQuota {
		var u quotaUsage
		var domainQuota, domainUsed int64
		// On PostgreSQL the rows stay locked until the commit, so that
		// the check holds when another node delivers to the same user.
		q := quotaSQL
		if tx.store.dialect.IsPostgres() {
			q = quotaSQL + " FOR UPDATE"
		}
		err := tx.txRow(q, userID).
			Scan(&u.quotaBytes, &u.quotaMessages, &u.usedBytes, &u.usedMessages, &u.warned, &domainQuota, &domainUsed)
		if err != nil {
			return nil, fmt.Errorf("quota of user %d: %w", userID, notFound(err))
		}
		if u.quotaBytes > 0 && u.usedBytes+addBytes > u.quotaBytes || u.quotaMessages > 0 && u.usedMessages+int64(len(rows)) > u.quotaMessages {
			return nil, fmt.Errorf("user %d: %w", userID, core.ErrOverQuota)
		}
		if domainQuota > 0 && domainUsed+addBytes > domainQuota {
			return nil, fmt.Errorf("domain of user %d: domain quota: %w", userID, core.ErrOverQuota)
		}
		before = &u
	}
	n := uint32(len(rows))
	// An UPDATE and a SELECT, not UPDATE … RETURNING: SQLite runs a
	// RETURNING clause as a trigger, which gives the statement a statement
	// journal of its own (allocated and freed each time), several times
	// the cost of the two plain statements.
	err := tx.txExec("UPDATE mailboxes SET uid_next = uid_next + ?, highest_modseq = highest_modseq + 1 WHERE id = ?", n, mb.ID)
	if err == nil {
		err = tx.txRow("SELECT uid_next, highest_modseq FROM mailboxes WHERE id = ?", mb.ID).Scan(&mb.UIDNext, &mb.HighestModSeq)
	}
	if err != nil {
		return nil, fmt.Errorf("allocate UIDs in mailbox %d: %w", mb.ID, notFound(err))
	}
	first := mb.UIDNext - n
	uids := make([]uint32, n)
	saved := time.Now().UTC()
	for i := range rows {
		rows[i].SaveDate = &saved
		rows[i].ID = 0
		rows[i].MailboxID = mb.ID
		rows[i].UserID = userID
		rows[i].UID = first + uint32(i)
		rows[i].ModSeq = mb.HighestModSeq
		fl := splitFlags(rows[i].Flags)
		rows[i].Seen = hasFlag(fl, FlagSeen)
		rows[i].Deleted = hasFlag(fl, FlagDeleted)
		uids[i] = rows[i].UID
	}
	if len(rows) == 1 {
		r := &rows[0]
		err = tx.txExec("INSERT INTO messages (mailbox_id, uid, user_id, blob_key, size, internal_date, mod_seq, flags, seen, deleted, save_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			r.MailboxID, r.UID, r.UserID, r.BlobKey, r.Size, r.InternalDate, r.ModSeq, r.Flags, r.Seen, r.Deleted, saved)
	} else {
		err = tx.CreateInBatches(rows, 200).Error
	}
	if err != nil {
		return nil, err
	}
	if err := tx.txExec("UPDATE users SET used_bytes = used_bytes + ?, used_messages = used_messages + ? WHERE id = ?", addBytes, len(rows), userID); err != nil {
		return nil, err
	}
	var usage quotaUsage
	if before != nil {
		usage = *before
		usage.usedBytes += addBytes
		usage.usedMessages += int64(len(rows))
	} else if usage, err = scanUsage(tx.txRow("SELECT "+usageColumns+" FROM users WHERE id = ?", userID)); err != nil {
		return nil, err
	}
	if err := addDomainUsageTx(tx, userID, addBytes, int64(len(rows))); err != nil {
		return nil, err
	}
	tx.publish(Event{Kind: MessagesAdded, UserID: userID, MailboxID: mb.ID, ModSeq: mb.HighestModSeq, UIDs: uids, FromMailboxID: fromMailbox})
	// A move (fromMailbox) adds nothing to the usage in the end.
	if fromMailbox == 0 && !tx.quotaWarning {
		if err := quotaWarningTx(tx, userID, usage, true); err != nil {
			return nil, err
		}
	}
	return uids, nil
}

// AppendResult says where an appended message went (UIDPLUS).
type AppendResult struct {
	UIDValidity uint32
	UID         uint32
}

// Append stores a message into a user's mailbox (IMAP APPEND), enforcing the
// quota. The bytes are stored exactly as given.
func (s *Store) Append(ctx context.Context, userID int64, mailbox string, r io.Reader, flags []string, date time.Time) (*AppendResult, error) {
	b, err := s.NewAppendBatch(ctx, userID, mailbox)
	if err != nil {
		return nil, err
	}
	if err := b.Add(ctx, r, flags, date); err != nil {
		b.Abort(ctx)
		return nil, err
	}
	res, err := b.Commit(ctx)
	if err != nil {
		return nil, err
	}
	return &res[0], nil
}

// AppendBatch appends several messages to a mailbox all or none (IMAP
// MULTIAPPEND, RFC 3502): Add stores each body as it comes, Commit adds
// them all in one transaction (and one quota check), Abort drops them.
type AppendBatch struct {
	s      *Store
	userID int64
	name   string
	rows   []messageRow
	// headers are the cached headers of rows' bodies (nil: none).
	headers [][]byte
}

// NewAppendBatch starts appending to a user's existing mailbox.
func (s *Store) NewAppendBatch(ctx context.Context, userID int64, mailbox string) (*AppendBatch, error) {
	name, err := CanonicalMailboxName(mailbox)
	if err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	if _, err := s.GetMailbox(ctx, userID, name); err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	return &AppendBatch{s: s, userID: userID, name: name}, nil
}

// Add stores one message's bytes, exactly as given.
func (b *AppendBatch) Add(ctx context.Context, r io.Reader, flags []string, date time.Time) error {
	fl, err := CanonicalFlags(flags)
	if err != nil {
		return fmt.Errorf("append to %q: %w", b.name, err)
	}
	sealer, err := b.s.userSealer(ctx, b.userID)
	if err != nil {
		return fmt.Errorf("append to %q: %w", b.name, err)
	}
	tap := b.s.newHeaderTap(r, sealer != nil)
	if tap != nil {
		r = tap
	}
	key, size, err := b.s.putRawBody(withSealer(ctx, sealer), r)
	if err != nil {
		return fmt.Errorf("append to %q: %w", b.name, err)
	}
	if date.IsZero() {
		date = time.Now()
	}
	b.rows = append(b.rows, messageRow{BlobKey: key, Size: size, InternalDate: date.UTC().Truncate(time.Second), Flags: strings.Join(fl, " ")})
	var header []byte
	if tap != nil {
		header = tap.cached(size)
	}
	b.headers = append(b.headers, header)
	return nil
}

// Commit adds the messages to the mailbox, with consecutive UIDs, or none
// of them (the bodies are then removed).
func (b *AppendBatch) Commit(ctx context.Context) ([]AppendResult, error) {
	return b.commit(ctx, nil)
}

// commit is Commit, running also (if not nil) in the same transaction.
func (b *AppendBatch) commit(ctx context.Context, also func(tx *writeTx) error) ([]AppendResult, error) {
	var res []AppendResult
	err := b.s.writeBody(ctx, func(tx *writeTx) error {
		res = nil
		var mb Mailbox
		if err := tx.Where("user_id = ? AND name = ?", b.userID, b.name).Take(&mb).Error; err != nil {
			return notFound(err)
		}
		uids, err := insertMessages(tx, b.userID, &mb, slices.Clone(b.rows), true, 0)
		if err != nil {
			return err
		}
		for i, h := range b.headers {
			if h != nil {
				if err := insertCachedHeaderTx(tx, b.rows[i].BlobKey, h); err != nil {
					return err
				}
			}
		}
		if also != nil {
			if err := also(tx); err != nil {
				return err
			}
		}
		for _, uid := range uids {
			res = append(res, AppendResult{UIDValidity: mb.UIDValidity, UID: uid})
		}
		return nil
	})
	if err != nil {
		b.Abort(ctx)
		return nil, fmt.Errorf("append to %q: %w", b.name, err)
	}
	b.rows, b.headers = nil, nil
	return res, nil
}

// Abort removes the bodies stored so far.
func (b *AppendBatch) Abort(ctx context.Context) {
	for _, r := range b.rows {
		if err := b.s.blobs.Delete(ctx, r.BlobKey); err != nil {
			b.s.log.Warn("remove unappended body", "blob", r.BlobKey, "err", err)
		}
	}
	b.rows, b.headers = nil, nil
}

// FlagOp says how StoreFlags combines the given flags with the current ones.
type FlagOp int

// The STORE operations.
const (
	FlagsSet FlagOp = iota
	FlagsAdd
	FlagsRemove
)

// FlagUpdate is a message's flags after StoreFlags.
type FlagUpdate struct {
	UID     uint32
	Flags   []string
	ModSeq  int64
	Changed bool
}

// StoreFlags changes the flags of the messages of a mailbox in set and
// returns every matched message's resulting flags.
func (s *Store) StoreFlags(ctx context.Context, mailboxID int64, set UIDSet, op FlagOp, flags []string) ([]FlagUpdate, error) {
	ups, _, err := s.StoreFlagsIf(ctx, mailboxID, set, op, flags, -1)
	return ups, err
}

// StoreFlagsIf is StoreFlags with the UNCHANGEDSINCE condition of IMAP
// CONDSTORE (RFC 7162 §3.1.3), checked in the same transaction: messages
// whose MODSEQ is above unchangedSince are left alone and their UIDs
// returned in modified. A negative unchangedSince means no condition.
func (s *Store) StoreFlagsIf(ctx context.Context, mailboxID int64, set UIDSet, op FlagOp, flags []string, unchangedSince int64) (updates []FlagUpdate, modified []uint32, err error) {
	fl, err := CanonicalFlags(flags)
	if err != nil {
		return nil, nil, fmt.Errorf("store flags: %w", err)
	}
	err = s.write(ctx, func(tx *writeTx) error {
		updates, modified = nil, nil
		owner, err := mailboxOwnerTx(tx, mailboxID)
		if err != nil {
			return err
		}
		mb := Mailbox{ID: mailboxID, UserID: owner}
		rows, err := selectMessageRows(tx, "id, uid, flags, mod_seq", mailboxID, "", set)
		if err != nil {
			return err
		}
		byFlags := map[string][]int64{}
		for _, r := range rows {
			if unchangedSince >= 0 && r.ModSeq > unchangedSince {
				modified = append(modified, r.UID)
				continue
			}
			cur := splitFlags(r.Flags)
			next := applyFlagOp(cur, op, fl)
			joined := strings.Join(next, " ")
			u := FlagUpdate{UID: r.UID, Flags: next, ModSeq: r.ModSeq, Changed: joined != r.Flags}
			if u.Changed {
				byFlags[joined] = append(byFlags[joined], r.ID)
			}
			updates = append(updates, u)
		}
		if len(byFlags) == 0 {
			return nil
		}
		modseq, err := bumpModSeq(tx, mailboxID)
		if err != nil {
			return err
		}
		for joined, ids := range byFlags {
			next := splitFlags(joined)
			for chunk := range slices.Chunk(ids, 500) {
				if err := tx.Exec("UPDATE messages SET flags = ?, seen = ?, deleted = ?, mod_seq = ? WHERE id IN ?",
					joined, hasFlag(next, FlagSeen), hasFlag(next, FlagDeleted), modseq, chunk).Error; err != nil {
					return err
				}
			}
		}
		ev := Event{Kind: FlagsChanged, UserID: mb.UserID, MailboxID: mailboxID, ModSeq: modseq}
		for i := range updates {
			if updates[i].Changed {
				updates[i].ModSeq = modseq
				ev.UIDs = append(ev.UIDs, updates[i].UID)
				ev.Flags = append(ev.Flags, updates[i].Flags)
			}
		}
		tx.publish(ev)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("store flags in mailbox %d: %w", mailboxID, err)
	}
	return updates, modified, nil
}

func applyFlagOp(cur []string, op FlagOp, flags []string) []string {
	var next []string
	switch op {
	case FlagsSet:
		next = slices.Clone(flags)
	case FlagsAdd:
		next = slices.Clone(cur)
		for _, f := range flags {
			if !hasFlag(next, f) {
				next = append(next, f)
			}
		}
	case FlagsRemove:
		for _, f := range cur {
			if !hasFlag(flags, f) {
				next = append(next, f)
			}
		}
	}
	sort.Strings(next)
	return next
}

// CopyResult maps source UIDs to the UIDs of the copies (UIDPLUS COPYUID).
type CopyResult struct {
	UIDValidity uint32 // of the destination
	SourceUIDs  []uint32
	DestUIDs    []uint32
}

// CopyMessages copies (or, with move, moves) the messages of a mailbox in set
// to another mailbox of the same user. Copies count against the quota; moves
// do not. The body is shared, not duplicated.
func (s *Store) CopyMessages(ctx context.Context, srcMailboxID int64, set UIDSet, dstMailbox string, move bool) (*CopyResult, error) {
	dstName, err := CanonicalMailboxName(dstMailbox)
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	var res CopyResult
	err = s.write(ctx, func(tx *writeTx) error {
		res = CopyResult{}
		var src Mailbox
		// The source's row stays locked (PostgreSQL), as in StoreFlags.
		if err := lockRow(tx.DB).Where("id = ?", srcMailboxID).Take(&src).Error; err != nil {
			return notFound(err)
		}
		var dst Mailbox
		if err := tx.Where("user_id = ? AND name = ?", src.UserID, dstName).Take(&dst).Error; err != nil {
			return fmt.Errorf("destination %q: %w", dstName, notFound(err))
		}
		return copyMessagesTx(tx, &src, &dst, set, move, &res)
	})
	if err != nil {
		return nil, fmt.Errorf("copy from mailbox %d to %q: %w", srcMailboxID, dstName, err)
	}
	return &res, nil
}

// CopyMessagesTo copies (or moves) the messages of a mailbox in set to the
// mailbox dstMailboxID, which may be another user's (a shared mailbox):
// the copies count against the destination owner's quota, always when
// the owners differ.
func (s *Store) CopyMessagesTo(ctx context.Context, srcMailboxID int64, set UIDSet, dstMailboxID int64, move bool) (*CopyResult, error) {
	var res CopyResult
	err := s.write(ctx, func(tx *writeTx) error {
		res = CopyResult{}
		var src, dst Mailbox
		// The source's row stays locked (PostgreSQL), as in StoreFlags.
		if err := lockRow(tx.DB).Where("id = ?", srcMailboxID).Take(&src).Error; err != nil {
			return notFound(err)
		}
		if err := tx.Where("id = ?", dstMailboxID).Take(&dst).Error; err != nil {
			return fmt.Errorf("destination: %w", notFound(err))
		}
		return copyMessagesTx(tx, &src, &dst, set, move, &res)
	})
	if err != nil {
		return nil, fmt.Errorf("copy from mailbox %d to mailbox %d: %w", srcMailboxID, dstMailboxID, err)
	}
	return &res, nil
}

// copyMessagesTx copies or moves the messages of src in set to dst.
func copyMessagesTx(tx *writeTx, src, dst *Mailbox, set UIDSet, move bool, res *CopyResult) error {
	var rows []messageRow
	if err := whereUIDs(tx.Where("mailbox_id = ?", src.ID), set).Order("uid").Find(&rows).Error; err != nil {
		return err
	}
	rows = filterRows(rows, set)
	res.UIDValidity = dst.UIDValidity
	if len(rows) == 0 {
		return nil
	}
	for _, r := range rows {
		res.SourceUIDs = append(res.SourceUIDs, r.UID)
	}
	copies := slices.Clone(rows)
	from := int64(0)
	if move {
		from = src.ID
	}
	uids, err := insertMessages(tx, dst.UserID, dst, copies, !move || dst.UserID != src.UserID, from)
	if err != nil {
		return err
	}
	res.DestUIDs = uids
	if move {
		return removeRows(tx, src.UserID, src, rows, true)
	}
	return nil
}

// removeRows deletes message rows of mb, frees their usage and their bodies
// once unreferenced, and publishes the expunge. With keepBodies (a move) the
// bodies are known to be still referenced.
func removeRows(tx *writeTx, userID int64, mb *Mailbox, rows []messageRow, keepBodies bool) error {
	if len(rows) == 0 {
		return nil
	}
	ids := make([]int64, len(rows))
	uids := make([]uint32, len(rows))
	var size int64
	keys := map[string]struct{}{}
	for i, r := range rows {
		ids[i], uids[i] = r.ID, r.UID
		size += r.Size
		keys[r.BlobKey] = struct{}{}
	}
	// Sessions not yet told of the expunge may still ask for these
	// (RFC 2180): their metadata, and so their bodies, stay for a while.
	if err := keepExpungedTx(tx, ids); err != nil {
		return err
	}
	for chunk := range slices.Chunk(ids, 500) {
		if err := tx.Where("id IN ?", chunk).Delete(&messageRow{}).Error; err != nil {
			return err
		}
	}
	if err := tx.txExec("UPDATE users SET used_bytes = used_bytes - ?, used_messages = used_messages - ? WHERE id = ?", size, len(rows), userID); err != nil {
		return err
	}
	usage, err := scanUsage(tx.txRow("SELECT "+usageColumns+" FROM users WHERE id = ?", userID))
	if err != nil {
		return err
	}
	if err := addDomainUsageTx(tx, userID, -size, -int64(len(rows))); err != nil {
		return err
	}
	if !keepBodies { // a move takes nothing away in the end
		if err := quotaWarningTx(tx, userID, usage, false); err != nil {
			return err
		}
	}
	if err := deletePrivateSeenTx(tx, mb.ID, uids); err != nil {
		return err
	}
	modseq, err := bumpModSeq(tx, mb.ID)
	if err != nil {
		return err
	}
	if !keepBodies {
		if err := releaseBlobs(tx, slices.Collect(mapKeys(keys))); err != nil {
			return err
		}
	}
	slices.Sort(uids)
	tx.publish(Event{Kind: MessagesExpunged, UserID: userID, MailboxID: mb.ID, ModSeq: modseq, UIDs: uids})
	return nil
}

func mapKeys(m map[string]struct{}) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// releaseBlobs deletes the bodies that no message references any more,
// nor an expunged message still kept for the sessions that show it (see
// ReleaseExpunged): an inline one in the transaction, a file after the
// commit.
func releaseBlobs(tx *writeTx, keys []string) error {
	for _, k := range keys {
		var count int64
		if err := yubindb.FirstRow(tx.Raw("SELECT COUNT(*) FROM messages WHERE blob_key = ?", k).Rows()).Scan(&count); err != nil {
			return err
		}
		if count == 0 {
			if count, err := expungedReferences(tx, k); err != nil || count > 0 {
				if err != nil {
					return err
				}
				continue
			}
			if err := deleteBodyThreadTx(tx, k); err != nil {
				return err
			}
			if err := deleteCachedHeaderTx(tx, k); err != nil {
				return err
			}
			if err := deleteBodyTx(tx, k); err != nil {
				return err
			}
		}
	}
	return nil
}

// Expunge permanently removes the messages of a mailbox that carry \Deleted
// and are in set (nil: all of them), and returns their UIDs.
func (s *Store) Expunge(ctx context.Context, mailboxID int64, set UIDSet) ([]uint32, error) {
	return s.removeMessages(ctx, mailboxID, set, true)
}

// DeleteMessages permanently removes the given messages whatever their flags
// (POP3 DELE committed at QUIT).
func (s *Store) DeleteMessages(ctx context.Context, mailboxID int64, uids []uint32) error {
	if len(uids) == 0 {
		return nil
	}
	_, err := s.removeMessages(ctx, mailboxID, UIDs(uids...), false)
	return err
}

func (s *Store) removeMessages(ctx context.Context, mailboxID int64, set UIDSet, onlyDeleted bool) ([]uint32, error) {
	var removed []uint32
	err := s.write(ctx, func(tx *writeTx) error {
		removed = nil
		owner, err := mailboxOwnerTx(tx, mailboxID)
		if err != nil {
			return err
		}
		mb := Mailbox{ID: mailboxID, UserID: owner}
		cond := ""
		if onlyDeleted {
			cond = " AND deleted"
		}
		// Explicit UID lists (POP3) can be long: filtered in Go.
		rows, err := selectMessageRows(tx, "id, uid, blob_key, size", mailboxID, cond, set)
		if err != nil {
			return err
		}
		for _, r := range rows {
			removed = append(removed, r.UID)
		}
		return removeRows(tx, mb.UserID, &mb, rows, false)
	})
	if err != nil {
		return nil, fmt.Errorf("expunge mailbox %d: %w", mailboxID, err)
	}
	return removed, nil
}
