package imapserver

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/yubinmail/yubin/mailstore"
)

const (
	bobAddr   = "bob@example.test"
	sharedBox = "Other Users/" + testAddr + "/Projects"
)

// addUser creates another user in the test domain.
func (e *testEnv) addUser(t testing.TB, addr string) *mailstore.User {
	t.Helper()
	u, err := e.store.CreateUser(context.Background(), mailstore.NewUser{Address: addr, Password: testPass})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// userID returns the ID of the user at addr.
func userID(t testing.TB, e *testEnv, addr string) int64 {
	t.Helper()
	u, err := e.store.GetUser(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// loginAs connects and logs in as addr.
func (e *testEnv) loginAs(t testing.TB, addr string, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c := e.dial(t, opts)
	if err := c.Login(addr, testPass).Wait(); err != nil {
		t.Fatalf("LOGIN %s: %v", addr, err)
	}
	return c
}

// listNames returns the names LIST "" pattern gives, with their attributes.
func listNames(t testing.TB, c *imapclient.Client, pattern string) map[string][]imap.MailboxAttr {
	t.Helper()
	list, err := c.List("", pattern, nil).Collect()
	if err != nil {
		t.Fatalf("LIST %q: %v", pattern, err)
	}
	out := map[string][]imap.MailboxAttr{}
	for _, d := range list {
		out[d.Mailbox] = d.Attrs
	}
	return out
}

// rawLogin opens a raw connection logged in as addr.
func (e *testEnv) rawLogin(t testing.TB, addr string) *rawConn {
	t.Helper()
	r := dialRaw(t, e.addr)
	if _, tagged := r.cmd("l", `LOGIN "`+addr+`" "`+testPass+`"`); !strings.HasPrefix(tagged, "l OK") {
		t.Fatalf("LOGIN %s: %s", addr, tagged)
	}
	return r
}

// TestACLGrantReadRevoke: alice grants bob "lrs" on Projects; bob finds
// it under Other Users, reads it (and his \Seen is alice's too), cannot
// delete messages, expunge, insert or administer; alice revokes and bob
// no longer sees it, also in the session that has it selected.
func TestACLGrantReadRevoke(t *testing.T) {
	env := newTestEnv(t, nil)
	ctx := context.Background()
	env.addUser(t, bobAddr)
	if _, err := env.store.CreateMailbox(ctx, env.user.ID, "Projects", ""); err != nil {
		t.Fatal(err)
	}
	env.deliverTo(t, "Projects", testMessage("plan", "carol@example.org", "the plan"))

	alice := env.loginAs(t, testAddr, nil)
	caps, err := alice.Capability().Wait()
	if err != nil || !caps.Has("ACL") || !caps.Has("RIGHTS=TEXK") {
		t.Fatalf("CAPABILITY: %v %v", caps, err)
	}
	// Before the grant, bob has no way to the mailbox.
	bobRaw := env.rawLogin(t, bobAddr)
	if _, tagged := bobRaw.cmd("s0", `SELECT "`+sharedBox+`"`); !strings.Contains(tagged, "NO [NONEXISTENT]") {
		t.Fatalf("SELECT before the grant: %s", tagged)
	}
	if err := alice.SetACL("Projects", imap.RightsIdentifier(bobAddr), imap.RightModificationReplace, imap.RightSet("lrs")).Wait(); err != nil {
		t.Fatalf("SETACL: %v", err)
	}
	acl, err := alice.GetACL("Projects").Wait()
	if err != nil {
		t.Fatalf("GETACL: %v", err)
	}
	if got := acl.Rights[imap.RightsIdentifier(bobAddr)].String(); got != "lrs" {
		t.Fatalf("GETACL bob: %q (all: %+v)", got, acl.Rights)
	}
	if got := acl.Rights[imap.RightsIdentifier(testAddr)].String(); got != mailstore.AllRights+"cd" {
		t.Fatalf("GETACL owner: %q", got)
	}

	rec := newRecorder()
	bob := env.loginAs(t, bobAddr, rec.options())
	ns, err := bob.Namespace().Wait()
	if err != nil || len(ns.Other) != 1 || ns.Other[0].Prefix != "Other Users/" {
		t.Fatalf("NAMESPACE: %+v %v", ns, err)
	}
	names := listNames(t, bob, "*")
	if _, ok := names[sharedBox]; !ok {
		t.Fatalf("LIST * lacks %s: %v", sharedBox, names)
	}
	for n := range names {
		if strings.Contains(n, "Sent") && strings.HasPrefix(n, "Other Users/") {
			t.Fatalf("LIST shows alice's %s, which bob holds no right on", n)
		}
	}
	top := listNames(t, bob, "%")
	if !slices.Contains(top["Other Users"], imap.MailboxAttrNoSelect) {
		t.Fatalf(`LIST %%: "Other Users" not a \Noselect parent: %v`, top)
	}
	my, err := bob.MyRights(sharedBox).Wait()
	if err != nil || my.Rights.String() != "lrs" {
		t.Fatalf("MYRIGHTS: %+v %v", my, err)
	}

	sel, err := bob.Select(sharedBox, nil).Wait()
	if err != nil {
		t.Fatalf("SELECT shared: %v", err)
	}
	if sel.NumMessages != 1 || !slices.Equal(sel.PermanentFlags, []imap.Flag{imap.FlagSeen}) {
		t.Fatalf("SELECT: %d messages, PERMANENTFLAGS %v", sel.NumMessages, sel.PermanentFlags)
	}
	msg := fetchOne(t, bob, 1, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}, Flags: true})
	if len(msg.BodySection) != 1 || !strings.Contains(string(msg.BodySection[0].Bytes), "the plan") {
		t.Fatalf("FETCH body: %+v", msg)
	}
	// Bob's \Seen is set, and is his own (private \Seen, the default):
	// alice's is not.
	projects := mustMailbox(t, env, "Projects").ID
	metas, err := env.store.ListMessages(ctx, projects, nil)
	if err != nil || len(metas) != 1 || metas[0].HasFlag(`\Seen`) {
		t.Fatalf("alice's \\Seen after bob's FETCH: %+v %v", metas, err)
	}
	bobs, err := env.store.ListMessagesAs(ctx, userID(t, env, bobAddr), projects, nil)
	if err != nil || len(bobs) != 1 || !bobs[0].HasFlag(`\Seen`) {
		t.Fatalf("bob's \\Seen after his FETCH: %+v %v", bobs, err)
	}
	for _, f := range []imap.Flag{imap.FlagDeleted, imap.FlagFlagged} {
		err := bob.Store(imap.UIDSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{f}, Silent: true}, nil).Close()
		wantCode(t, err, imap.ResponseCodeNoPerm, "STORE +FLAGS "+string(f))
	}
	_, err = bob.Expunge().Collect()
	wantCode(t, err, imap.ResponseCodeNoPerm, "EXPUNGE")
	if _, tagged := bobRaw.cmd("del", `DELETE "`+sharedBox+`"`); !strings.HasPrefix(tagged, "del NO [NOPERM]") {
		t.Fatalf("DELETE: %s", tagged)
	}
	_, err = appendMsg(bob, sharedBox, testMessage("x", bobAddr, "x"), nil)
	wantCode(t, err, imap.ResponseCodeNoPerm, "APPEND")
	_, err = bob.GetACL(sharedBox).Wait()
	wantCode(t, err, imap.ResponseCodeNoPerm, "GETACL")
	wantCode(t, bob.SetACL(sharedBox, imap.RightsIdentifier(bobAddr), imap.RightModificationAdd, imap.RightSet("a")).Wait(), imap.ResponseCodeNoPerm, "SETACL")

	// New mail in alice's mailbox reaches bob's session at once.
	env.deliverTo(t, "Projects", testMessage("update", "carol@example.org", "more"))
	if err := bob.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if n := wait(t, rec.exists, "EXISTS"); n != 2 {
		t.Fatalf("EXISTS %d", n)
	}

	// The quota is alice's.
	if _, tagged := bobRaw.cmd("q", `GETQUOTAROOT "`+sharedBox+`"`); !strings.HasPrefix(tagged, "q OK") {
		t.Fatalf("GETQUOTAROOT: %s", tagged)
	}
	untagged, _ := bobRaw.cmd("q2", `GETQUOTAROOT "`+sharedBox+`"`)
	if len(untagged) < 2 || !strings.Contains(untagged[0], `"Other Users/`+testAddr+`"`) || !strings.HasPrefix(untagged[1], `* QUOTA "Other Users/`+testAddr+`"`) {
		t.Fatalf("GETQUOTAROOT: %q", untagged)
	}
	if untagged, tagged := bobRaw.cmd("q3", `GETQUOTA "Other Users/`+testAddr+`"`); tagged != "q3 OK GETQUOTA completed" || len(untagged) != 1 {
		t.Fatalf("GETQUOTA of alice's root: %q %s", untagged, tagged)
	}
	if _, tagged := bobRaw.cmd("q4", `GETQUOTA "Other Users/carol@example.test"`); !strings.HasPrefix(tagged, "q4 NO [NONEXISTENT]") {
		t.Fatalf("GETQUOTA of a root bob has no share in: %s", tagged)
	}

	// LISTRIGHTS and DELETEACL over the wire; the revocation takes effect
	// in bob's selected session too.
	aliceRaw := env.rawLogin(t, testAddr)
	untagged, tagged := aliceRaw.cmd("r", "LISTRIGHTS Projects "+bobAddr)
	if tagged != "r OK LISTRIGHTS completed" || len(untagged) != 1 || untagged[0] != `* LISTRIGHTS "Projects" "`+bobAddr+`" "" l r s w i p k x t e a c d` {
		t.Fatalf("LISTRIGHTS: %q %s", untagged, tagged)
	}
	if _, tagged := aliceRaw.cmd("d", "DELETEACL Projects "+bobAddr); tagged != "d OK DELETEACL completed" {
		t.Fatalf("DELETEACL: %s", tagged)
	}
	if _, ok := listNames(t, bob, "*")[sharedBox]; ok {
		t.Fatal("LIST still shows the mailbox after DELETEACL")
	}
	if _, err := bob.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true}).Collect(); err == nil {
		t.Fatal("FETCH in the selected mailbox after DELETEACL succeeded")
	}
	if _, tagged := bobRaw.cmd("s1", `SELECT "`+sharedBox+`"`); !strings.Contains(tagged, "NO [NONEXISTENT]") {
		t.Fatalf("SELECT after DELETEACL: %s", tagged)
	}
}

func mustMailbox(t testing.TB, env *testEnv, name string) *mailstore.Mailbox {
	t.Helper()
	mb, err := env.store.GetMailbox(context.Background(), env.user.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	return mb
}

// TestACLInsertAndModifiers: "+" and "-" modify rights; with "i" bob
// copies his own mail into alice's mailbox, counted against alice's
// quota; the obsolete "c" and "d" map to their groups; negative rights
// and the owner's rights are refused; a grant to anyone works for bob.
func TestACLInsertAndModifiers(t *testing.T) {
	env := newTestEnv(t, nil)
	ctx := context.Background()
	bobUser := env.addUser(t, bobAddr)
	if _, err := env.store.CreateMailbox(ctx, env.user.ID, "Projects", ""); err != nil {
		t.Fatal(err)
	}
	alice := env.rawLogin(t, testAddr)
	for _, step := range []struct{ cmd, want string }{
		{"SETACL Projects " + bobAddr + " lr", "OK"},
		{"SETACL Projects " + bobAddr + " +ic", "OK"},
		{"SETACL Projects " + bobAddr + " -c", "OK"},
		{"SETACL Projects -" + bobAddr + " r", "NO [CANNOT]"},
		{"SETACL Projects " + testAddr + " lr", "NO [CANNOT]"},
		{"SETACL Projects nobody@example.test lr", "NO [CANNOT]"},
		{"SETACL Projects " + bobAddr + " lrz", "BAD"},
		{"SETACL \"Other Users\" " + bobAddr + " lr", "NO [NONEXISTENT]"},
	} {
		_, tagged := alice.cmd("t", step.cmd)
		if !strings.HasPrefix(tagged, "t "+step.want) {
			t.Fatalf("%s: %s, want %s", step.cmd, tagged, step.want)
		}
	}
	untagged, _ := alice.cmd("g", "GETACL Projects")
	if len(untagged) != 1 || untagged[0] != `* ACL "Projects" "`+testAddr+`" "lrswipkxteacd" "`+bobAddr+`" "lri"` {
		t.Fatalf("GETACL: %q", untagged)
	}

	// Bob copies a message of his INBOX into the shared mailbox.
	if _, err := env.store.Deliver(ctx, mailstore.Delivery{
		Targets: []mailstore.DeliveryTarget{{UserID: bobUser.ID, Mailbox: "INBOX"}},
		Body:    strings.NewReader(testMessage("for alice", bobAddr, "hello")),
	}); err != nil {
		t.Fatal(err)
	}
	before, _ := env.store.GetUserByID(ctx, env.user.ID)
	bob := env.rawLogin(t, bobAddr)
	bob.cmd("s", "SELECT INBOX")
	if _, tagged := bob.cmd("f", `STORE 1 +FLAGS (\Seen \Flagged)`); !strings.HasPrefix(tagged, "f OK") {
		t.Fatalf("STORE in bob's INBOX: %s", tagged)
	}
	if _, tagged := bob.cmd("c", `COPY 1 "`+sharedBox+`"`); !strings.HasPrefix(tagged, "c OK [COPYUID") {
		t.Fatalf("COPY into the shared mailbox: %s", tagged)
	}
	if _, tagged := bob.cmd("m", `MOVE 1 "`+sharedBox+`"`); !strings.HasPrefix(tagged, "m OK") {
		t.Fatalf("MOVE out of bob's own INBOX: %s", tagged)
	}
	// Bob holds neither s nor w there: his \Seen and \Flagged stay behind.
	metas, err := env.store.ListMessages(ctx, mustMailbox(t, env, "Projects").ID, nil)
	if err != nil || len(metas) != 2 || len(metas[0].Flags)+len(metas[1].Flags) != 0 {
		t.Fatalf("copies in alice's mailbox: %+v %v", metas, err)
	}
	after, _ := env.store.GetUserByID(ctx, env.user.ID)
	if after.UsedMessages != before.UsedMessages+2 {
		t.Fatalf("alice's usage %d → %d, want +2", before.UsedMessages, after.UsedMessages)
	}
	// Without r bob cannot select it; STATUS needs r too.
	bob.cmd("s", `SELECT "`+sharedBox+`"`)
	if _, tagged := alice.cmd("t", "SETACL Projects "+bobAddr+" -r"); !strings.HasPrefix(tagged, "t OK") {
		t.Fatal(tagged)
	}
	if _, tagged := bob.cmd("s2", `SELECT "`+sharedBox+`"`); !strings.HasPrefix(tagged, "s2 NO [NOPERM]") {
		t.Fatalf("SELECT without r: %s", tagged)
	}
	if _, tagged := bob.cmd("st", `STATUS "`+sharedBox+`" (MESSAGES)`); !strings.HasPrefix(tagged, "st NO [NOPERM]") {
		t.Fatalf("STATUS without r: %s", tagged)
	}
	// A grant to anyone reaches bob; k lets him create under the mailbox,
	// and the new mailbox inherits the ACL.
	if _, tagged := alice.cmd("t", "SETACL Projects anyone lrk"); !strings.HasPrefix(tagged, "t OK") {
		t.Fatal(tagged)
	}
	if _, tagged := bob.cmd("cr", `CREATE "`+sharedBox+`/Sub"`); !strings.HasPrefix(tagged, "cr OK") {
		t.Fatalf("CREATE with k: %s", tagged)
	}
	if _, tagged := bob.cmd("cr2", `CREATE "Other Users/`+testAddr+`/Elsewhere"`); !strings.HasPrefix(tagged, "cr2 NO [NOPERM]") {
		t.Fatalf("CREATE without k on INBOX: %s", tagged)
	}
	untagged, _ = bob.cmd("my", `MYRIGHTS "`+sharedBox+`/Sub"`)
	if len(untagged) != 1 || !strings.HasSuffix(untagged[0], ` "lrikc"`) {
		t.Fatalf("MYRIGHTS on the new mailbox: %q", untagged)
	}
	if _, err := env.store.GetMailbox(ctx, env.user.ID, "Projects/Sub"); err != nil {
		t.Fatalf("the new mailbox is not alice's: %v", err)
	}
}

// TestACLListStatusSkipsUnreadable: LIST RETURN (STATUS) leaves out the
// STATUS of a mailbox the user may see ("l") but not read, and the rest
// of the answer still comes.
func TestACLListStatusSkipsUnreadable(t *testing.T) {
	env := newTestEnv(t, nil)
	env.addUser(t, bobAddr)
	if _, err := env.store.CreateMailbox(context.Background(), env.user.ID, "Projects", ""); err != nil {
		t.Fatal(err)
	}
	alice := env.rawLogin(t, testAddr)
	if _, tagged := alice.cmd("a", "SETACL Projects "+bobAddr+" l"); !strings.HasPrefix(tagged, "a OK") {
		t.Fatal(tagged)
	}
	bob := env.rawLogin(t, bobAddr)
	untagged, tagged := bob.cmd("l", `LIST "" "*" RETURN (STATUS (MESSAGES))`)
	if !strings.HasPrefix(tagged, "l OK") {
		t.Fatalf("LIST: %s", tagged)
	}
	var listed, status bool
	for _, u := range untagged {
		listed = listed || strings.HasPrefix(u, "* LIST ") && strings.Contains(u, sharedBox)
		status = status || strings.HasPrefix(u, "* STATUS ") && strings.Contains(u, sharedBox)
	}
	if !listed || status {
		t.Fatalf("LIST with STATUS: listed %v, status %v: %q", listed, status, untagged)
	}
}

// FuzzACLNames checks the parsers of rights and of names in the other
// users' namespace: rights come out canonical or are refused; a shared
// name splits into an owner and a name that make it again.
func FuzzACLNames(f *testing.F) {
	for _, s := range []string{"lrs", "+cd", "lrswipkxtea", "z", "Other Users/ann@example.com/Projects/Sub",
		"Other Users/ann@example.com/inbox/x", "Other Users", "Other Users/", "Other Users//x", "INBOX"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if r, err := clientRights(s); err == nil {
			if c, err := mailstore.CanonicalRights(r); err != nil || c != r {
				t.Fatalf("clientRights(%q) = %q, not canonical", s, r)
			}
		}
		owner, rest, node, ok := sharedName(s)
		if !ok {
			if strings.HasPrefix(s, otherUsers+delim) || s == otherUsers {
				t.Fatalf("sharedName(%q) not ok", s)
			}
			return
		}
		if node {
			return
		}
		if got := sharedMailboxName(owner, rest); !strings.EqualFold(got, s) {
			t.Fatalf("sharedName(%q) = %q, %q: makes %q", s, owner, rest, got)
		}
	})
}

// TestACLIdleAndAppendFlags: bob IDLEs in alice's shared mailbox and is
// told of alice's flag change and of a message bob appends with "i" but
// without "w": its \Flagged is dropped, its \Seen kept ("s").
func TestACLIdleAndAppendFlags(t *testing.T) {
	env := newTestEnv(t, nil)
	ctx := context.Background()
	mb := env.shareProjects(t, "lrsi", [2]string{"plan", "the plan"})
	rec := newRecorder()
	bob := env.loginAs(t, bobAddr, rec.options())
	if _, err := bob.Select(sharedBox, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := bob.Idle()
	if err != nil {
		t.Fatal(err)
	}
	alice := env.loginAs(t, testAddr, nil)
	if _, err := alice.Select("Projects", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := alice.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagAnswered}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if u := wait(t, rec.fetch, "FETCH during IDLE"); !hasFlag(u.flags, imap.FlagAnswered) {
		t.Fatalf("IDLE update %+v", u)
	}
	bob2 := env.loginAs(t, bobAddr, nil)
	if _, err := appendMsg(bob2, sharedBox, testMessage("note", bobAddr, "x"), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen, imap.FlagFlagged}}); err != nil {
		t.Fatalf("APPEND with i: %v", err)
	}
	if n := wait(t, rec.exists, "EXISTS during IDLE"); n != 2 {
		t.Fatalf("EXISTS %d", n)
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	// bob's \Seen is his own; \Flagged needs w, which he lacks.
	metas, err := env.store.ListMessages(ctx, mb.ID, nil)
	if err != nil || len(metas) != 2 || metas[1].HasFlag(`\Seen`) || metas[1].HasFlag(`\Flagged`) {
		t.Fatalf("appended message: %+v %v", metas, err)
	}
	bobs, err := env.store.ListMessagesAs(ctx, userID(t, env, bobAddr), mb.ID, nil)
	if err != nil || len(bobs) != 2 || !bobs[1].HasFlag(`\Seen`) || bobs[1].HasFlag(`\Flagged`) {
		t.Fatalf("appended message as bob sees it: %+v %v", bobs, err)
	}
	// alice's quota counts it.
	u, _ := env.store.GetUserByID(ctx, env.user.ID)
	if u.UsedMessages != 2 {
		t.Fatalf("alice's usage %d messages", u.UsedMessages)
	}
}

// TestACLReadOnlySelect: with "lr" only, SELECT opens the mailbox
// read-only and reading it sets no \Seen.
func TestACLReadOnlySelect(t *testing.T) {
	env := newTestEnv(t, nil)
	ctx := context.Background()
	mb := env.shareProjects(t, "lr", [2]string{"plan", "the plan"})
	bob := env.rawLogin(t, bobAddr)
	untagged, tagged := bob.cmd("s", `SELECT "`+sharedBox+`"`)
	if !strings.HasPrefix(tagged, "s OK [READ-ONLY]") {
		t.Fatalf("SELECT with lr: %s", tagged)
	}
	if !slices.Contains(untagged, "* OK [PERMANENTFLAGS ()] Read-only mailbox") {
		t.Fatalf("PERMANENTFLAGS: %q", untagged)
	}
	if _, tagged := bob.cmd("f", "FETCH 1 BODY[]"); !strings.HasPrefix(tagged, "f OK") {
		t.Fatalf("FETCH: %s", tagged)
	}
	metas, err := env.store.ListMessages(ctx, mb.ID, nil)
	if err != nil || len(metas) != 1 || metas[0].HasFlag(`\Seen`) {
		t.Fatalf("after bob's read-only FETCH: %+v %v", metas, err)
	}
}
