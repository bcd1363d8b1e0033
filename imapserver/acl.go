package imapserver

import (
	"context"
	"errors"
	"strings"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
)

// The ACL extension (RFC 4314) and the other users' namespace (RFC 2342).
//
// Rights are the letters of mailstore.AllRights; a mailbox's owner holds
// them all, always. Negative rights are not supported (SETACL with a
// "-identifier" is refused). The obsolete rights of RFC 2086 are mapped as
// RFC 4314 §2.1.1 allows: "c" stands for "k" and "d" for "x", "t" and "e"
// in what clients send; responses include "c" with "k" and "d" with any of
// "x", "t" or "e". Flags are shared: every user sees the same \Seen.
//
// Other users' mailboxes the user holds the "l" right on are listed as
// "Other Users/<owner>/<name>"; their quota root is "Other Users/<owner>",
// the owner's quota, which their messages count against.

// Sharing is what an Account offers for access control.
type Sharing interface {
	// MyRights returns the user's rights on a mailbox, canonical.
	MyRights(ctx context.Context, mb *mailstore.Mailbox) (string, error)
	// MailboxOwner returns the address of a mailbox's owner.
	MailboxOwner(ctx context.Context, mb *mailstore.Mailbox) (string, error)
	// MailboxACL returns a mailbox's owner and grants; it needs "a".
	MailboxACL(ctx context.Context, mb *mailstore.Mailbox) (owner string, grants []mailstore.MailboxGrant, err error)
	// SetRights sets (empty: removes) an identifier's rights on a
	// mailbox; it needs "a".
	SetRights(ctx context.Context, mb *mailstore.Mailbox, identifier, rights string) error
	// QuotaRoot names the quota root a mailbox counts against.
	QuotaRoot(ctx context.Context, mb *mailstore.Mailbox) (string, error)
	// RootQuota returns the limits and usage of a quota root.
	RootQuota(ctx context.Context, root string) (*Quota, error)
}

// aclCapabilities are the capabilities of this file.
const aclCapabilities = " ACL RIGHTS=texk"

// namespaceLine is the NAMESPACE response: the personal namespace and the
// other users' (RFC 2342).
const namespaceLine = `NAMESPACE (("" "/")) (("` + otherUsers + `/" "/")) NIL`

// hasRights reports whether have holds every right of want.
func hasRights(have, want string) bool {
	for _, r := range want {
		if !strings.ContainsRune(have, r) {
			return false
		}
	}
	return true
}

// clientRights reads a rights string from a client: the obsolete "c" and
// "d" become their groups (RFC 4314 §2.1.1). Unknown letters are BAD.
func clientRights(raw string) (string, error) {
	var b strings.Builder
	for _, r := range raw {
		switch {
		case r == 'c':
			b.WriteString("k")
		case r == 'd':
			b.WriteString("xte")
		case strings.ContainsRune(mailstore.AllRights, r):
			b.WriteRune(r)
		default:
			return "", badf("Unknown right %q (rights are %s, and c, d)", r, mailstore.AllRights)
		}
	}
	out, err := mailstore.CanonicalRights(b.String())
	if err != nil {
		return "", badf("Invalid rights")
	}
	return out, nil
}

// serverRights writes rights for a client, with the obsolete "c" and "d"
// (RFC 4314 §2.1.1).
func serverRights(rights string) string {
	if strings.ContainsRune(rights, 'k') {
		rights += "c"
	}
	if strings.ContainsAny(rights, "xte") {
		rights += "d"
	}
	return rights
}

// selectRights decides how SELECT and EXAMINE open a mailbox: it needs
// "r"; without any of "s", "w", "i", "t" and "e" the user could change
// nothing in it, so it opens read-only (RFC 4314 §4).
func (s *session) selectRights(mb *mailstore.Mailbox, examine bool) (readOnly bool, err error) {
	rights, err := s.acct.MyRights(s.ctx, mb)
	if err != nil {
		return false, s.storeErr("select", err, "NONEXISTENT")
	}
	if !hasRights(rights, "r") {
		return false, noErr("NOPERM", "You lack the right to read this mailbox (RFC 4314)")
	}
	return examine || !strings.ContainsAny(rights, "swite"), nil
}

// selectedMay reports whether the user holds the rights of want on the
// selected mailbox now.
func (s *session) selectedMay(want string) bool {
	if s.sel == nil {
		return false
	}
	rights, err := s.acct.MyRights(s.ctx, s.sel.mailbox)
	return err == nil && hasRights(rights, want)
}

// mayRead reports whether the user may read a mailbox: LIST's STATUS
// (RFC 5819) is left out for one the user holds no "r" on.
func (s *session) mayRead(mb *mailstore.Mailbox) bool {
	rights, err := s.acct.MyRights(s.ctx, mb)
	return err == nil && hasRights(rights, "r")
}

// permanentFlags returns what PERMANENTFLAGS announces of flags: those the
// user's rights let change (RFC 4314 §4), and \* with "w".
func (s *session) permanentFlags(flags []string) []string {
	rights, err := s.acct.MyRights(s.ctx, s.sel.mailbox)
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(flags)+1)
	for _, f := range flags {
		if hasRights(rights, flagRights(mailstore.FlagsAdd, []string{f})) {
			out = append(out, f)
		}
	}
	if hasRights(rights, "w") {
		out = append(out, `\*`)
	}
	return out
}

// namespaceNodes returns the names of the other users' namespace above
// the shared mailboxes: "Other Users" and "Other Users/<owner>", which
// LIST shows as \Noselect parents.
func namespaceNodes(boxes []mailstore.Mailbox) map[string]bool {
	nodes := map[string]bool{}
	for _, mb := range boxes {
		owner, _, node, ok := sharedName(mb.Name)
		if ok && !node {
			nodes[otherUsers] = true
			nodes[otherUsers+delim+owner] = true
		}
	}
	return nodes
}

// aclMailbox reads " mailbox" and looks it up.
func (s *session) aclMailbox(op string) (*mailstore.Mailbox, error) {
	name, err := s.spMailbox()
	if err != nil {
		return nil, err
	}
	if _, _, node, ok := sharedName(name); ok && node {
		return nil, noErr("NONEXISTENT", "No such mailbox")
	}
	mb, err := s.acct.GetMailbox(s.ctx, name)
	if err != nil {
		return nil, s.storeErr(op, err, "NONEXISTENT")
	}
	return mb, nil
}

// aclMailboxIdentifier reads " mailbox identifier" and looks the
// mailbox up.
func (s *session) aclMailboxIdentifier(op string) (*mailstore.Mailbox, string, error) {
	mb, err := s.aclMailbox(op)
	if err != nil {
		return nil, "", err
	}
	id, err := s.spIdentifier()
	if err != nil {
		return nil, "", err
	}
	return mb, id, nil
}

// spIdentifier reads " identifier".
func (s *session) spIdentifier() (string, error) {
	if err := s.r.sp(); err != nil {
		return "", err
	}
	id, err := s.r.astring("an identifier")
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(id, "-") {
		return "", noErr("CANNOT", "Negative rights are not supported")
	}
	if id == "" {
		return "", badf("Empty identifier")
	}
	return id, nil
}

// aclErr turns an error of an ACL change into its answer.
func (s *session) aclErr(op string, err error) error {
	switch {
	case errors.Is(err, core.ErrConflict):
		return noErr("CANNOT", "The owner's rights cannot be changed")
	case errors.Is(err, core.ErrNotFound) && !errors.As(err, new(*statusError)):
		return noErr("CANNOT", "No such mailbox or identifier (an identifier is a user's address or \"anyone\")")
	case errors.Is(err, core.ErrInvalid):
		return noErr("CANNOT", "Invalid identifier or rights")
	}
	return s.storeErr(op, err, "NONEXISTENT")
}

// cmdSetACL runs SETACL mailbox identifier mod-rights (RFC 4314 §3.1):
// "+rights" adds, "-rights" removes, plain rights replace.
func (s *session) cmdSetACL(c *command) error {
	mb, id, err := s.aclMailboxIdentifier("setacl")
	if err != nil {
		return err
	}
	if err := s.r.sp(); err != nil {
		return err
	}
	mod, err := s.r.astring("rights")
	if err != nil {
		return err
	}
	if err := s.r.end(); err != nil {
		return err
	}
	op := byte(0)
	if mod != "" && (mod[0] == '+' || mod[0] == '-') {
		op, mod = mod[0], mod[1:]
	}
	rights, err := clientRights(mod)
	if err != nil {
		return err
	}
	if op != 0 {
		owner, grants, err := s.acct.MailboxACL(s.ctx, mb)
		if err != nil {
			return s.storeErr("setacl", err, "NONEXISTENT")
		}
		if strings.EqualFold(id, owner) {
			return noErr("CANNOT", "The owner's rights cannot be changed")
		}
		cur := ""
		for _, g := range grants {
			if strings.EqualFold(g.Identifier, id) {
				cur = g.Rights
			}
		}
		if op == '+' {
			rights += cur
		} else {
			rights = strings.Map(func(r rune) rune {
				if strings.ContainsRune(rights, r) {
					return -1
				}
				return r
			}, cur)
		}
	}
	if err := s.acct.SetRights(s.ctx, mb, id, rights); err != nil {
		return s.aclErr("setacl", err)
	}
	return nil
}

// cmdDeleteACL runs DELETEACL mailbox identifier (RFC 4314 §3.2).
func (s *session) cmdDeleteACL(c *command) error {
	mb, id, err := s.aclMailboxIdentifier("deleteacl")
	if err != nil {
		return err
	}
	if err := s.r.end(); err != nil {
		return err
	}
	if err := s.acct.SetRights(s.ctx, mb, id, ""); err != nil {
		return s.aclErr("deleteacl", err)
	}
	return nil
}

// cmdGetACL runs GETACL mailbox (RFC 4314 §3.3): the owner with every
// right, then the grants.
func (s *session) cmdGetACL(c *command) error {
	mb, err := s.aclMailbox("getacl")
	if err != nil {
		return err
	}
	if err := s.r.end(); err != nil {
		return err
	}
	owner, grants, err := s.acct.MailboxACL(s.ctx, mb)
	if err != nil {
		return s.storeErr("getacl", err, "NONEXISTENT")
	}
	s.w.s("* ACL ").mailbox(mb.Name).sp().str(owner).sp().str(serverRights(mailstore.AllRights))
	for _, g := range grants {
		s.w.sp().str(g.Identifier).sp().str(serverRights(g.Rights))
	}
	s.w.crlf()
	return nil
}

// cmdListRights runs LISTRIGHTS mailbox identifier (RFC 4314 §3.4): the
// owner holds every right and no other; anyone else may be granted each
// right on its own.
func (s *session) cmdListRights(c *command) error {
	mb, id, err := s.aclMailboxIdentifier("listrights")
	if err != nil {
		return err
	}
	if err := s.r.end(); err != nil {
		return err
	}
	owner, _, err := s.acct.MailboxACL(s.ctx, mb)
	if err != nil {
		return s.storeErr("listrights", err, "NONEXISTENT")
	}
	s.w.s("* LISTRIGHTS ").mailbox(mb.Name).sp().str(id).sp()
	if strings.EqualFold(id, owner) {
		s.w.str(serverRights(mailstore.AllRights)).crlf()
		return nil
	}
	s.w.s(`""`)
	for _, r := range mailstore.AllRights + "cd" {
		s.w.sp().c(byte(r))
	}
	s.w.crlf()
	return nil
}

// cmdMyRights runs MYRIGHTS mailbox (RFC 4314 §3.5): any right allows it.
func (s *session) cmdMyRights(c *command) error {
	mb, err := s.aclMailbox("myrights")
	if err != nil {
		return err
	}
	if err := s.r.end(); err != nil {
		return err
	}
	rights, err := s.acct.MyRights(s.ctx, mb)
	if err != nil {
		return s.storeErr("myrights", err, "NONEXISTENT")
	}
	s.w.s("* MYRIGHTS ").mailbox(mb.Name).sp().str(serverRights(rights)).crlf()
	return nil
}
