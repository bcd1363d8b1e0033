package imapserver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
)

// The store's Account with access control (RFC 4314): the user's own
// mailboxes, with every right, and the mailboxes other users granted the
// user rights on, named "Other Users/<owner>/<name>". Every operation
// checks the user's rights on the mailbox it touches as it runs, so that
// a revoked right takes effect at once, also in a selected mailbox.

// otherUsers is the root of the other users' namespace (RFC 2342).
const otherUsers = "Other Users"

// aclAccount is a storeAccount that enforces mailbox rights and shows
// other users' shared mailboxes.
type aclAccount struct {
	*storeAccount
	owners sync.Map // mailbox ID → owner's user ID (never changes)
}

// sharedName splits a name in the other users' namespace: node says it is
// "Other Users" or "Other Users/<owner>" itself, no mailbox.
func sharedName(name string) (owner, rest string, node, ok bool) {
	if name == otherUsers {
		return "", "", true, true
	}
	after, found := strings.CutPrefix(name, otherUsers+delim)
	if !found {
		return "", "", false, false
	}
	owner, rest, found = strings.Cut(after, delim)
	if !found || rest == "" {
		return strings.ToLower(owner), "", true, true
	}
	if strings.EqualFold(rest, mailstore.Inbox) {
		rest = mailstore.Inbox
	} else if len(rest) > len(mailstore.Inbox) && strings.EqualFold(rest[:len(mailstore.Inbox)+1], mailstore.Inbox+delim) {
		rest = mailstore.Inbox + rest[len(mailstore.Inbox):]
	}
	return strings.ToLower(owner), rest, false, true
}

// sharedMailboxName is how the user sees another user's mailbox.
func sharedMailboxName(owner, name string) string {
	return otherUsers + delim + owner + delim + name
}

// errNoPerm answers an operation the user's rights do not allow.
func errNoPerm(what string) error {
	return noErr("NOPERM", "You lack the right to "+what+" in this mailbox (RFC 4314)")
}

// ownerOf returns the ID of a mailbox's owner.
func (a *aclAccount) ownerOf(ctx context.Context, mailboxID int64) (int64, error) {
	if v, ok := a.owners.Load(mailboxID); ok {
		return v.(int64), nil
	}
	mb, err := a.store.GetMailboxByID(ctx, mailboxID)
	if err != nil {
		return 0, err
	}
	a.owners.Store(mailboxID, mb.UserID)
	return mb.UserID, nil
}

// owns reports whether the user owns a mailbox (false if that cannot be
// told: the caller then takes the way that works for everyone).
func (a *aclAccount) owns(ctx context.Context, mailboxID int64) bool {
	owner, err := a.ownerOf(ctx, mailboxID)
	return err == nil && owner == a.user.ID
}

// rights returns the user's rights on a mailbox, now.
func (a *aclAccount) rights(ctx context.Context, mailboxID int64) (string, error) {
	owner, err := a.ownerOf(ctx, mailboxID)
	if err != nil {
		return "", err
	}
	if owner == a.user.ID {
		return mailstore.AllRights, nil
	}
	return a.store.RightsOn(ctx, mailboxID, a.user.ID)
}

// need fails unless the user holds every right of want on a mailbox; a
// user without any right is told the mailbox does not exist (RFC 4314
// §4: no hint of what is there).
func (a *aclAccount) need(ctx context.Context, mailboxID int64, want, what string) error {
	have, err := a.rights(ctx, mailboxID)
	if err != nil {
		return err
	}
	if have == "" {
		return fmt.Errorf("mailbox %d: %w", mailboxID, core.ErrNotFound)
	}
	for _, r := range want {
		if !strings.ContainsRune(have, r) {
			return errNoPerm(what)
		}
	}
	return nil
}

// resolved is a mailbox a name leads to: the store's mailbox, and the name
// the user sees.
type resolved struct {
	mb     *mailstore.Mailbox // as stored: Name is the owner's
	shown  string
	owner  string // the owner's address, "" for the user's own
	rights string
}

// resolve finds the mailbox a name stands for, and the user's rights on
// it. A mailbox the user holds no right on is core.ErrNotFound.
func (a *aclAccount) resolve(ctx context.Context, name string) (*resolved, error) {
	ownerAddr, rest, node, ok := sharedName(name)
	if !ok {
		mb, err := a.store.GetMailbox(ctx, a.user.ID, name)
		if err != nil {
			return nil, err
		}
		a.owners.Store(mb.ID, mb.UserID)
		return &resolved{mb: mb, shown: mb.Name, rights: mailstore.AllRights}, nil
	}
	if node {
		return nil, fmt.Errorf("%q is a namespace, no mailbox: %w", name, core.ErrNotFound)
	}
	owner, err := a.store.GetUser(ctx, ownerAddr)
	if err != nil || owner.ID == a.user.ID {
		return nil, fmt.Errorf("mailbox %q: %w", name, core.ErrNotFound)
	}
	mb, err := a.store.GetMailbox(ctx, owner.ID, rest)
	if err != nil {
		return nil, err
	}
	a.owners.Store(mb.ID, mb.UserID)
	rights, err := a.store.RightsOn(ctx, mb.ID, a.user.ID)
	if err != nil {
		return nil, err
	}
	if rights == "" {
		return nil, fmt.Errorf("mailbox %q: %w", name, core.ErrNotFound)
	}
	return &resolved{mb: mb, shown: sharedMailboxName(owner.Address, mb.Name), owner: owner.Address, rights: rights}, nil
}

// shownMailbox returns a copy of r's mailbox named as the user sees it.
func (r *resolved) shownMailbox() *mailstore.Mailbox {
	mb := *r.mb
	mb.Name = r.shown
	if r.owner != "" {
		mb.SpecialUse = ""
	}
	return &mb
}

func (r *resolved) has(rights string) bool {
	for _, c := range rights {
		if !strings.ContainsRune(r.rights, c) {
			return false
		}
	}
	return true
}

func (a *aclAccount) ListMailboxes(ctx context.Context) ([]mailstore.Mailbox, error) {
	own, err := a.store.ListMailboxes(ctx, a.user.ID)
	if err != nil {
		return nil, err
	}
	for _, mb := range own {
		a.owners.Store(mb.ID, mb.UserID)
	}
	shared, err := a.store.SharedWith(ctx, a.user.ID)
	if err != nil {
		return nil, err
	}
	for _, sm := range shared {
		if !strings.ContainsRune(sm.Rights, 'l') {
			continue
		}
		mb := sm.Mailbox
		a.owners.Store(mb.ID, mb.UserID)
		mb.Name = sharedMailboxName(sm.Owner, mb.Name)
		mb.SpecialUse = "" // the owner's \Sent is not the user's (RFC 6154)
		own = append(own, mb)
	}
	return own, nil
}

func (a *aclAccount) GetMailbox(ctx context.Context, name string) (*mailstore.Mailbox, error) {
	r, err := a.resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	return r.shownMailbox(), nil
}

// parentOf returns the mailbox a new mailbox named name (owner's name)
// goes under: its parent, or for a top-level one the owner's INBOX, which
// stands for the account's root.
func parentOf(name string) string {
	if i := strings.LastIndex(name, delim); i > 0 {
		return name[:i]
	}
	return mailstore.Inbox
}

func (a *aclAccount) CreateMailbox(ctx context.Context, name, specialUse string) error {
	ownerAddr, rest, node, ok := sharedName(name)
	if node {
		return fmt.Errorf("%q is a namespace: %w", name, core.ErrExists)
	}
	ownerID, inherit := a.user.ID, false
	if ok {
		owner, err := a.store.GetUser(ctx, ownerAddr)
		if err != nil || owner.ID == a.user.ID {
			return errNoPerm("create mailboxes")
		}
		if _, err := a.resolve(ctx, name); err == nil {
			return fmt.Errorf("mailbox %q: %w", name, core.ErrExists)
		}
		parent, err := a.resolve(ctx, sharedMailboxName(owner.Address, parentOf(rest)))
		if err != nil {
			if errors.Is(err, core.ErrNotFound) {
				return errNoPerm("create mailboxes")
			}
			return err
		}
		if !parent.has("k") {
			return errNoPerm("create mailboxes")
		}
		ownerID, name, inherit = owner.ID, rest, true
	} else if strings.Contains(name, delim) {
		inherit = true
	}
	mb, err := a.store.CreateMailbox(ctx, ownerID, name, specialUse)
	if err != nil {
		return err
	}
	if !inherit {
		return nil
	}
	// The new mailbox inherits its parent's ACL (RFC 4314 §3.1 leaves
	// the initial ACL to the server).
	parent, err := a.store.GetMailbox(ctx, ownerID, parentOf(mb.Name))
	if err != nil {
		return nil
	}
	return a.store.CopyMailboxACL(ctx, parent.ID, mb.ID)
}

func (a *aclAccount) DeleteMailbox(ctx context.Context, name string) error {
	r, err := a.resolve(ctx, name)
	if err != nil {
		return err
	}
	if r.owner == "" {
		return a.store.DeleteMailbox(ctx, a.user.ID, name)
	}
	if !r.has("x") {
		return errNoPerm("delete the mailbox")
	}
	return a.store.DeleteMailbox(ctx, r.mb.UserID, r.mb.Name)
}

func (a *aclAccount) RenameMailbox(ctx context.Context, from, to string) error {
	src, err := a.resolve(ctx, from)
	if err != nil {
		return err
	}
	toOwner, toRest, node, toShared := sharedName(to)
	if node {
		return fmt.Errorf("%q is a namespace: %w", to, core.ErrExists)
	}
	if src.owner == "" && !toShared {
		return a.store.RenameMailbox(ctx, a.user.ID, from, to)
	}
	if !toShared || src.owner != toOwner {
		return fmt.Errorf("rename across owners: %w", core.ErrInvalid)
	}
	if !src.has("x") {
		return errNoPerm("rename the mailbox")
	}
	parent, err := a.resolve(ctx, sharedMailboxName(src.owner, parentOf(toRest)))
	if err != nil || !parent.has("k") {
		return errNoPerm("create mailboxes")
	}
	return a.store.RenameMailbox(ctx, src.mb.UserID, src.mb.Name, toRest)
}

func (a *aclAccount) Status(ctx context.Context, mailboxID int64) (*mailstore.MailboxStatus, error) {
	if err := a.need(ctx, mailboxID, "r", "read"); err != nil {
		return nil, err
	}
	if a.owns(ctx, mailboxID) {
		return a.storeAccount.Status(ctx, mailboxID)
	}
	// UNSEEN counts the user's own \Seen where it is private.
	return a.store.StatusAs(ctx, a.user.ID, mailboxID)
}

func (a *aclAccount) ListMessages(ctx context.Context, mailboxID int64, set mailstore.UIDSet) ([]mailstore.MessageMeta, error) {
	return a.list(ctx, mailboxID, set, a.storeAccount.ListMessages, a.store.ListMessagesAs)
}

// list lists a mailbox the user may read: with own if the user owns it,
// else with as, which gives the user's own \Seen where it is private.
func (a *aclAccount) list(ctx context.Context, mailboxID int64, set mailstore.UIDSet,
	own func(context.Context, int64, mailstore.UIDSet) ([]mailstore.MessageMeta, error),
	as func(context.Context, int64, int64, mailstore.UIDSet) ([]mailstore.MessageMeta, error)) ([]mailstore.MessageMeta, error) {
	if err := a.need(ctx, mailboxID, "r", "read"); err != nil {
		return nil, err
	}
	if a.owns(ctx, mailboxID) {
		return own(ctx, mailboxID, set)
	}
	return as(ctx, a.user.ID, mailboxID, set)
}

func (a *aclAccount) ListMessageFlags(ctx context.Context, mailboxID int64, set mailstore.UIDSet) ([]mailstore.MessageMeta, error) {
	return a.list(ctx, mailboxID, set, a.storeAccount.ListMessageFlags, a.store.ListMessageFlagsAs)
}

func (a *aclAccount) ListMessageBodies(ctx context.Context, mailboxID int64, set mailstore.UIDSet) ([]mailstore.MessageMeta, error) {
	return a.list(ctx, mailboxID, set, a.storeAccount.ListMessageBodies, a.store.ListMessageBodiesAs)
}

func (a *aclAccount) SnapshotFlags(ctx context.Context, mailboxID int64) ([]mailstore.MessageMeta, int64, error) {
	if err := a.need(ctx, mailboxID, "r", "read"); err != nil {
		return nil, 0, err
	}
	if a.owns(ctx, mailboxID) {
		return a.storeAccount.SnapshotFlags(ctx, mailboxID)
	}
	return a.store.SnapshotFlagsAs(ctx, a.user.ID, mailboxID)
}

func (a *aclAccount) ListMessagesWithHeaders(ctx context.Context, mailboxID int64, set mailstore.UIDSet) ([]mailstore.MessageMeta, error) {
	return a.list(ctx, mailboxID, set, a.storeAccount.ListMessagesWithHeaders, a.store.ListMessagesWithHeadersAs)
}

func (a *aclAccount) ListExpunged(ctx context.Context, mailboxID int64, uids []uint32) ([]mailstore.MessageMeta, error) {
	if err := a.need(ctx, mailboxID, "r", "read"); err != nil {
		return nil, err
	}
	return a.storeAccount.ListExpunged(ctx, mailboxID, uids)
}

func (a *aclAccount) NewAppend(ctx context.Context, mailbox string) (AppendTx, error) {
	r, err := a.resolve(ctx, mailbox)
	if err != nil {
		return nil, err
	}
	if !r.has("i") {
		return nil, errNoPerm("insert messages")
	}
	// The messages count against the owner's quota.
	batch, err := a.store.NewAppendBatch(ctx, r.mb.UserID, r.mb.Name)
	if err != nil {
		return nil, err
	}
	var tx AppendTx = batch
	if r.owner != "" {
		tx = &seenAppend{AppendTx: batch, acct: a, mailboxID: r.mb.ID}
	}
	if r.has("swt") {
		return tx, nil
	}
	return &rightsAppend{AppendTx: tx, rights: r.rights}, nil
}

// seenAppend appends to another user's mailbox: \Seen is set as the
// user's own after the commit, which is private where the mailbox's
// \Seen is (mailstore/seen.go).
type seenAppend struct {
	AppendTx
	acct      *aclAccount
	mailboxID int64
	seen      []bool // per message added
}

func (sa *seenAppend) Add(ctx context.Context, r io.Reader, flags []string, date time.Time) error {
	seen := slices.ContainsFunc(flags, func(f string) bool { return strings.EqualFold(f, mailstore.FlagSeen) })
	flags = slices.DeleteFunc(slices.Clone(flags), func(f string) bool { return strings.EqualFold(f, mailstore.FlagSeen) })
	if err := sa.AppendTx.Add(ctx, r, flags, date); err != nil {
		return err
	}
	sa.seen = append(sa.seen, seen)
	return nil
}

func (sa *seenAppend) Commit(ctx context.Context) ([]mailstore.AppendResult, error) {
	res, err := sa.AppendTx.Commit(ctx)
	if err != nil {
		return nil, err
	}
	var seen []uint32
	for i, r := range res {
		if i < len(sa.seen) && sa.seen[i] {
			seen = append(seen, r.UID)
		}
	}
	if err := sa.acct.store.SetSeenAs(ctx, sa.acct.user.ID, sa.mailboxID, seen, true); err != nil {
		return nil, err
	}
	return res, nil
}

// rightsAppend appends with only the flags the user's rights allow
// setting: the others are dropped, not refused (RFC 4314 §4, APPEND).
type rightsAppend struct {
	AppendTx
	rights string
}

func (ra *rightsAppend) Add(ctx context.Context, r io.Reader, flags []string, date time.Time) error {
	return ra.AppendTx.Add(ctx, r, allowedFlags(ra.rights, flags), date)
}

// allowedFlags returns the flags of flags that rights allow setting.
func allowedFlags(rights string, flags []string) []string {
	var out []string
	for _, f := range flags {
		if strings.ContainsAny(rights, flagRights(mailstore.FlagsAdd, []string{f})) {
			out = append(out, f)
		}
	}
	return out
}

// flagRights returns the rights changing flags needs (RFC 4314 §4): s for
// \Seen, t for \Deleted, w for the others; replacing the flags (STORE
// FLAGS) may change any of them, so it needs all three.
func flagRights(op mailstore.FlagOp, flags []string) string {
	if op == mailstore.FlagsSet {
		return "swt"
	}
	need := ""
	for _, f := range flags {
		switch {
		case strings.EqualFold(f, mailstore.FlagSeen):
			need += "s"
		case strings.EqualFold(f, mailstore.FlagDeleted):
			need += "t"
		default:
			need += "w"
		}
	}
	return need
}

func (a *aclAccount) StoreFlags(ctx context.Context, mailboxID int64, set mailstore.UIDSet, op mailstore.FlagOp, flags []string, unchangedSince int64) ([]mailstore.FlagUpdate, []uint32, error) {
	if err := a.need(ctx, mailboxID, flagRights(op, flags), "change these flags"); err != nil {
		return nil, nil, err
	}
	// \Seen may be the user's own (private \Seen, mailstore/seen.go).
	return a.store.StoreFlagsAs(ctx, a.user.ID, mailboxID, set, op, flags, unchangedSince)
}

func (a *aclAccount) CopyMessages(ctx context.Context, mailboxID int64, set mailstore.UIDSet, dest string, move bool) (*mailstore.CopyResult, error) {
	src := "r"
	if move {
		// MOVE is COPY, STORE \Deleted and EXPUNGE (RFC 6851 §3.3).
		src = "rte"
	}
	if err := a.need(ctx, mailboxID, src, "move messages out"); err != nil {
		return nil, err
	}
	dst, err := a.resolve(ctx, dest)
	if err != nil {
		return nil, err
	}
	if !dst.has("i") {
		return nil, errNoPerm("insert messages")
	}
	// Where either side is another user's, \Seen may be private on it:
	// the copies get the \Seen the user saw on the originals.
	var before []mailstore.MessageMeta
	keepSeen := (!a.owns(ctx, mailboxID) || dst.owner != "") && dst.has("rs")
	if keepSeen {
		if before, err = a.ListMessages(ctx, mailboxID, set); err != nil {
			return nil, err
		}
	}
	res, err := a.store.CopyMessagesTo(ctx, mailboxID, set, dst.mb.ID, move)
	if err == nil && keepSeen {
		err = a.copySeen(ctx, before, res, dst.mb.ID)
	}
	if err != nil || dst.has("swt") || len(res.DestUIDs) == 0 {
		return res, err
	}
	// The copies keep only the flags the user may set in the destination
	// (RFC 4314 §4, COPY).
	copies, err := a.store.ListMessages(ctx, dst.mb.ID, mailstore.UIDs(res.DestUIDs...))
	if err != nil {
		return nil, err
	}
	drop := map[string][]uint32{}
	for _, m := range copies {
		allowed := allowedFlags(dst.rights, m.Flags)
		for _, f := range m.Flags {
			if !slices.Contains(allowed, f) {
				drop[f] = append(drop[f], m.UID)
			}
		}
	}
	for f, uids := range drop {
		if _, err := a.store.StoreFlags(ctx, dst.mb.ID, mailstore.UIDs(uids...), mailstore.FlagsRemove, []string{f}); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// copySeen gives the copies of a COPY or MOVE to mailbox dst the \Seen
// the user saw on the originals (before, by UID), as the user sees dst.
func (a *aclAccount) copySeen(ctx context.Context, before []mailstore.MessageMeta, res *mailstore.CopyResult, dst int64) error {
	if len(res.DestUIDs) == 0 {
		return nil
	}
	copies, err := a.ListMessages(ctx, dst, mailstore.UIDs(res.DestUIDs...))
	if err != nil {
		return err
	}
	seenNow := make(map[uint32]bool, len(copies))
	for i := range copies {
		seenNow[copies[i].UID] = copies[i].HasFlag(mailstore.FlagSeen)
	}
	var set, clear []uint32
	for k, src := range res.SourceUIDs {
		i, ok := slices.BinarySearchFunc(before, src, func(m mailstore.MessageMeta, uid uint32) int { return cmp.Compare(m.UID, uid) })
		if !ok || k >= len(res.DestUIDs) {
			continue
		}
		want, now := before[i].HasFlag(mailstore.FlagSeen), seenNow[res.DestUIDs[k]]
		switch {
		case want && !now:
			set = append(set, res.DestUIDs[k])
		case !want && now:
			clear = append(clear, res.DestUIDs[k])
		}
	}
	if err := a.store.SetSeenAs(ctx, a.user.ID, dst, set, true); err != nil {
		return err
	}
	return a.store.SetSeenAs(ctx, a.user.ID, dst, clear, false)
}

// AssignThreads gives thread ids to messages of a mailbox the user may
// read, in its owner's mail.
func (a *aclAccount) AssignThreads(ctx context.Context, mailboxID int64, items []mailstore.ThreadItem) (map[string]string, error) {
	if err := a.need(ctx, mailboxID, "r", "read"); err != nil {
		return nil, err
	}
	return a.storeAccount.AssignThreads(ctx, mailboxID, items)
}

func (a *aclAccount) Expunge(ctx context.Context, mailboxID int64, set mailstore.UIDSet) ([]uint32, error) {
	if err := a.need(ctx, mailboxID, "e", "expunge"); err != nil {
		return nil, err
	}
	return a.storeAccount.Expunge(ctx, mailboxID, set)
}

// GetMetadata returns a mailbox's entries: for another user's mailbox
// (with r) only the /shared ones, never the owner's private entries.
func (a *aclAccount) GetMetadata(ctx context.Context, mailboxID int64) ([]mailstore.MetadataEntry, error) {
	if mailboxID == 0 {
		return a.storeAccount.GetMetadata(ctx, 0)
	}
	owner, err := a.ownerOf(ctx, mailboxID)
	if err != nil {
		return nil, err
	}
	var out []mailstore.MetadataEntry
	if owner == a.user.ID {
		if out, err = a.storeAccount.GetMetadata(ctx, mailboxID); err != nil {
			return nil, err
		}
	} else {
		if err := a.need(ctx, mailboxID, "r", "read"); err != nil {
			return nil, err
		}
		all, err := a.store.GetMetadata(ctx, owner, mailboxID)
		if err != nil {
			return nil, err
		}
		for _, e := range all {
			if strings.HasPrefix(strings.ToLower(e.Name), "/shared/") {
				out = append(out, e)
			}
		}
	}
	private, err := a.store.PrivateSeen(ctx, mailboxID)
	if err != nil {
		return nil, err
	}
	out = slices.DeleteFunc(out, func(e mailstore.MetadataEntry) bool { return e.Name == privateSeenEntry })
	out = append(out, mailstore.MetadataEntry{Name: privateSeenEntry, Value: []byte(strconv.FormatBool(private))})
	slices.SortFunc(out, func(x, y mailstore.MetadataEntry) int { return strings.Compare(x.Name, y.Name) })
	return out, nil
}

// privateSeenEntry is the METADATA entry (RFC 5464 §3.2, a vendor entry)
// of a mailbox that says whether its \Seen is private per user ("true",
// the default) or shared by all its users ("false"); setting it to NIL
// is the default again. Its owner, or a user with the a right, sets it.
const privateSeenEntry = "/shared/vendor/yubin/private-seen"

// setPrivateSeenEntry applies the private-seen entry of entries, if any,
// and returns the others.
func (a *aclAccount) setPrivateSeenEntry(ctx context.Context, mailboxID int64, entries []mailstore.MetadataEntry) ([]mailstore.MetadataEntry, error) {
	i := slices.IndexFunc(entries, func(e mailstore.MetadataEntry) bool { return e.Name == privateSeenEntry })
	if i < 0 {
		return entries, nil
	}
	private := true
	if v := entries[i].Value; v != nil {
		b, err := strconv.ParseBool(strings.TrimSpace(string(v)))
		if err != nil {
			return nil, badf("%s is true (each user has their own \\Seen) or false (shared)", privateSeenEntry)
		}
		private = b
	}
	if err := a.need(ctx, mailboxID, "a", "administer"); err != nil {
		return nil, err
	}
	rest := slices.Delete(slices.Clone(entries), i, i+1)
	if slices.ContainsFunc(rest, func(e mailstore.MetadataEntry) bool { return e.Name == privateSeenEntry }) {
		return nil, badf("%s given twice", privateSeenEntry)
	}
	return rest, a.store.SetPrivateSeen(ctx, mailboxID, private)
}

// SetMetadata sets entries of the user's own mailboxes (or the server's);
// other users' mailboxes' entries are their owners'.
func (a *aclAccount) SetMetadata(ctx context.Context, mailboxID int64, entries []mailstore.MetadataEntry, maxEntries int) error {
	if mailboxID != 0 {
		owner, err := a.ownerOf(ctx, mailboxID)
		if err != nil {
			return err
		}
		if owner != a.user.ID && slices.ContainsFunc(entries, func(e mailstore.MetadataEntry) bool { return e.Name != privateSeenEntry }) {
			return errNoPerm("set metadata (it is the owner's)")
		}
		if entries, err = a.setPrivateSeenEntry(ctx, mailboxID, entries); err != nil || len(entries) == 0 {
			return err
		}
	}
	return a.storeAccount.SetMetadata(ctx, mailboxID, entries, maxEntries)
}

// MyRights returns the user's rights on a mailbox (RFC 4314 MYRIGHTS).
func (a *aclAccount) MyRights(ctx context.Context, mb *mailstore.Mailbox) (string, error) {
	return a.rights(ctx, mb.ID)
}

// MailboxACL returns a mailbox's owner and grants; it needs the a right.
func (a *aclAccount) MailboxACL(ctx context.Context, mb *mailstore.Mailbox) (string, []mailstore.MailboxGrant, error) {
	if err := a.need(ctx, mb.ID, "a", "administer"); err != nil {
		return "", nil, err
	}
	owner, err := a.ownerAddress(ctx, mb.ID)
	if err != nil {
		return "", nil, err
	}
	grants, err := a.store.MailboxACL(ctx, mb.ID)
	return owner, grants, err
}

// SetRights sets an identifier's rights on a mailbox; it needs the a
// right.
func (a *aclAccount) SetRights(ctx context.Context, mb *mailstore.Mailbox, identifier, rights string) error {
	if err := a.need(ctx, mb.ID, "a", "administer"); err != nil {
		return err
	}
	return a.store.SetMailboxRights(ctx, mb.ID, identifier, rights)
}

// MailboxOwner returns the address of a mailbox's owner.
func (a *aclAccount) MailboxOwner(ctx context.Context, mb *mailstore.Mailbox) (string, error) {
	return a.ownerAddress(ctx, mb.ID)
}

func (a *aclAccount) ownerAddress(ctx context.Context, mailboxID int64) (string, error) {
	owner, err := a.ownerOf(ctx, mailboxID)
	if err != nil {
		return "", err
	}
	if owner == a.user.ID {
		return a.user.Address, nil
	}
	u, err := a.store.GetUserByID(ctx, owner)
	if err != nil {
		return "", err
	}
	return u.Address, nil
}

// QuotaRoot names the quota root of a mailbox: "" for the user's own,
// "Other Users/<owner>" for another user's, whose quota it counts against.
func (a *aclAccount) QuotaRoot(ctx context.Context, mb *mailstore.Mailbox) (string, error) {
	owner, err := a.ownerOf(ctx, mb.ID)
	if err != nil {
		return "", err
	}
	if owner == a.user.ID {
		return "", nil
	}
	addr, err := a.ownerAddress(ctx, mb.ID)
	if err != nil {
		return "", err
	}
	return otherUsers + delim + addr, nil
}

// RootQuota returns the quota of a root QuotaRoot named: another user's
// only while the user holds rights on one of its mailboxes.
func (a *aclAccount) RootQuota(ctx context.Context, root string) (*Quota, error) {
	if root == "" {
		return a.Quota(ctx)
	}
	ownerAddr, rest, node, ok := sharedName(root)
	if !ok || !node || rest != "" || ownerAddr == "" {
		return nil, fmt.Errorf("quota root %q: %w", root, core.ErrNotFound)
	}
	shared, err := a.store.SharedWith(ctx, a.user.ID)
	if err != nil {
		return nil, err
	}
	for _, sm := range shared {
		if sm.Owner == ownerAddr {
			u, err := a.store.GetUserByID(ctx, sm.Mailbox.UserID)
			if err != nil {
				return nil, err
			}
			return userQuota(u), nil
		}
	}
	return nil, fmt.Errorf("quota root %q: %w", root, core.ErrNotFound)
}

// userQuota is a user's quota as IMAP reports it.
func userQuota(u *mailstore.User) *Quota {
	return &Quota{LimitBytes: u.QuotaBytes, UsedBytes: u.UsedBytes, LimitMessages: u.QuotaMessages, UsedMessages: u.UsedMessages}
}
