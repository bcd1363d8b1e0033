package imapserver

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/yubinmail/yubin/mailstore"
)

// listAll returns LIST "" "*" (with options) by mailbox name.
func listAll(t testing.TB, c *imapclient.Client, pattern string, opts *imap.ListOptions) map[string]*imap.ListData {
	t.Helper()
	list, err := c.List("", pattern, opts).Collect()
	if err != nil {
		t.Fatalf("LIST %q: %v", pattern, err)
	}
	out := map[string]*imap.ListData{}
	for _, d := range list {
		if _, dup := out[d.Mailbox]; dup {
			t.Fatalf("LIST %q: %s twice", pattern, d.Mailbox)
		}
		out[d.Mailbox] = d
	}
	return out
}

func hasAttr(attrs []imap.MailboxAttr, a imap.MailboxAttr) bool {
	for _, x := range attrs {
		if strings.EqualFold(string(x), string(a)) {
			return true
		}
	}
	return false
}

func names(m map[string]*imap.ListData) []string {
	var out []string
	for n := range m {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func TestListDefaultMailboxes(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.login(t, nil)

	list := listAll(t, c, "*", nil)
	want := map[string]imap.MailboxAttr{
		"INBOX":   "",
		"Sent":    imap.MailboxAttrSent,
		"Drafts":  imap.MailboxAttrDrafts,
		"Trash":   imap.MailboxAttrTrash,
		"Junk":    imap.MailboxAttrJunk,
		"Archive": imap.MailboxAttrArchive,
	}
	if got := names(list); len(got) != len(want) {
		t.Fatalf("LIST: %v", got)
	}
	for name, use := range want {
		d := list[name]
		if d == nil {
			t.Errorf("LIST lacks %s", name)
			continue
		}
		if d.Delim != '/' {
			t.Errorf("%s: delimiter %q", name, d.Delim)
		}
		if use != "" && !hasAttr(d.Attrs, use) {
			t.Errorf("%s: attributes %v lack %s", name, d.Attrs, use)
		}
		if !hasAttr(d.Attrs, imap.MailboxAttrHasNoChildren) {
			t.Errorf("%s: attributes %v lack \\HasNoChildren", name, d.Attrs)
		}
	}
	// LIST "" "" gives the delimiter.
	root, err := c.List("", "", nil).Collect()
	if err != nil || len(root) != 1 || root[0].Delim != '/' || !hasAttr(root[0].Attrs, imap.MailboxAttrNoSelect) {
		t.Fatalf("LIST \"\" \"\": %+v %v", root, err)
	}
	// INBOX matches case-insensitively.
	if got := names(listAll(t, c, "inbox", nil)); !slices.Equal(got, []string{"INBOX"}) {
		t.Fatalf("LIST \"\" inbox: %v", got)
	}
	// SPECIAL-USE selection.
	special := listAll(t, c, "*", &imap.ListOptions{SelectSpecialUse: true})
	if got := names(special); !slices.Equal(got, []string{"Archive", "Drafts", "Junk", "Sent", "Trash"}) {
		t.Fatalf("LIST (SPECIAL-USE): %v", got)
	}
}

func TestCreateDeleteRename(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.login(t, nil)

	if err := c.Create("a/b/c", nil).Wait(); err != nil {
		t.Fatalf("CREATE a/b/c: %v", err)
	}
	if err := c.Create("x/", nil).Wait(); err != nil {
		t.Fatalf("CREATE x/: %v", err)
	}
	wantCode(t, c.Create("a/b", nil).Wait(), imap.ResponseCodeAlreadyExists, "CREATE of an existing mailbox")
	wantCode(t, c.Create("INBOX", nil).Wait(), imap.ResponseCodeAlreadyExists, "CREATE INBOX")
	if err := c.Create("bad//name", nil).Wait(); err == nil {
		t.Fatal("CREATE bad//name succeeded")
	}
	if err := c.Create("Flags", &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{imap.MailboxAttrFlagged}}).Wait(); err != nil {
		t.Fatalf("CREATE with USE (\\Flagged): %v", err)
	}
	wantCode(t, c.Create("Weird", &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{"\\Weird"}}).Wait(), "USEATTR", "CREATE with an unknown special use")

	list := listAll(t, c, "*", nil)
	for name, attr := range map[string]imap.MailboxAttr{
		"a": imap.MailboxAttrHasChildren, "a/b": imap.MailboxAttrHasChildren, "a/b/c": imap.MailboxAttrHasNoChildren,
		"x": imap.MailboxAttrHasNoChildren, "Flags": imap.MailboxAttrFlagged,
	} {
		if list[name] == nil || !hasAttr(list[name].Attrs, attr) {
			t.Errorf("LIST %s: %+v, want %s", name, list[name], attr)
		}
	}
	if list["Weird"] != nil {
		t.Errorf("Weird was created")
	}
	if got := names(listAll(t, c, "a/%", nil)); !slices.Equal(got, []string{"a/b"}) {
		t.Errorf("LIST \"\" a/%%: %v", got)
	}
	if got := names(listAll(t, c, "%", nil)); slices.Contains(got, "a/b") || !slices.Contains(got, "a") {
		t.Errorf("LIST \"\" %%: %v", got)
	}

	wantCode(t, c.Delete("a").Wait(), imap.ResponseCodeHasChildren, "DELETE with children")
	wantCode(t, c.Delete("nosuch").Wait(), imap.ResponseCodeNonExistent, "DELETE of a missing mailbox")
	if err := c.Delete("INBOX").Wait(); err == nil {
		t.Fatal("DELETE INBOX succeeded")
	}
	if err := c.Delete("a/b/c").Wait(); err != nil {
		t.Fatalf("DELETE a/b/c: %v", err)
	}
	if l := listAll(t, c, "a/b", nil)["a/b"]; l == nil || !hasAttr(l.Attrs, imap.MailboxAttrHasNoChildren) {
		t.Fatalf("a/b after deleting its child: %+v", l)
	}

	// RENAME moves the children along, and the messages.
	env.deliverTo(t, "a/b", testMessage("in a/b", "bob@example.org", "hi"))
	if err := c.Rename("a", "z", nil).Wait(); err != nil {
		t.Fatalf("RENAME a z: %v", err)
	}
	if got := names(listAll(t, c, "*", nil)); !slices.Contains(got, "z/b") || slices.Contains(got, "a") || slices.Contains(got, "a/b") {
		t.Fatalf("after RENAME: %v", got)
	}
	// RENAME creates the superior names the new name needs (RFC 3501
	// §6.3.5), without subscribing them.
	if err := c.Create("w", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("w", "p/q/w", nil).Wait(); err != nil {
		t.Fatalf("RENAME w p/q/w: %v", err)
	}
	afterParents := listAll(t, c, "*", nil)
	for _, name := range []string{"p", "p/q", "p/q/w"} {
		if afterParents[name] == nil || hasAttr(afterParents[name].Attrs, imap.MailboxAttrNonExistent) {
			t.Errorf("after RENAME w p/q/w, %s is not listed as a mailbox: %+v", name, afterParents[name])
		}
	}
	if afterParents["w"] != nil {
		t.Errorf("w is still listed after its RENAME")
	}
	if subs := names(listAll(t, c, "*", &imap.ListOptions{SelectSubscribed: true})); slices.Contains(subs, "p") || slices.Contains(subs, "p/q") {
		t.Errorf("RENAME subscribed the superiors it created: %v", subs)
	}
	st, err := c.Status("z/b", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 1 {
		t.Fatalf("STATUS z/b: %+v %v", st, err)
	}
	wantCode(t, c.Rename("nosuch", "other", nil).Wait(), imap.ResponseCodeNonExistent, "RENAME of a missing mailbox")
	wantCode(t, c.Rename("x", "z", nil).Wait(), imap.ResponseCodeAlreadyExists, "RENAME onto an existing mailbox")

	// The selected mailbox cannot be deleted, but can be renamed.
	if _, err := c.Select("x", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("x").Wait(); err == nil {
		t.Fatal("DELETE of the selected mailbox succeeded")
	}
	if err := c.Rename("x", "y", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("y").Wait(); err != nil {
		t.Fatalf("DELETE y after UNSELECT: %v", err)
	}
}

func TestSubscribe(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.login(t, nil)

	if err := c.Create("news", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Unsubscribe("Junk").Wait(); err != nil {
		t.Fatalf("UNSUBSCRIBE: %v", err)
	}
	if err := c.Subscribe("news").Wait(); err != nil {
		t.Fatalf("SUBSCRIBE: %v", err)
	}
	// The subscription list is the user's own (RFC 9051 §6.3.7): it may
	// name a mailbox that does not exist.
	if err := c.Subscribe("nosuch").Wait(); err != nil {
		t.Fatalf("SUBSCRIBE to a missing mailbox: %v", err)
	}

	sub := listAll(t, c, "*", &imap.ListOptions{SelectSubscribed: true})
	if sub["Junk"] != nil || sub["news"] == nil || sub["INBOX"] == nil {
		t.Fatalf("LIST (SUBSCRIBED): %v", names(sub))
	}
	if !hasAttr(sub["news"].Attrs, imap.MailboxAttrSubscribed) {
		t.Fatalf("LIST (SUBSCRIBED) news: %v", sub["news"].Attrs)
	}
	if sub["nosuch"] == nil || !hasAttr(sub["nosuch"].Attrs, imap.MailboxAttrNonExistent) {
		t.Fatalf("LIST (SUBSCRIBED) of a missing mailbox: %v", sub["nosuch"])
	}
	// A subscription survives DELETE; parents CREATE makes are not
	// subscribed, nor is the created mailbox itself.
	if err := c.Delete("news").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("a/b/c", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	sub = listAll(t, c, "*", &imap.ListOptions{SelectSubscribed: true})
	if sub["news"] == nil || !hasAttr(sub["news"].Attrs, imap.MailboxAttrNonExistent) || sub["a"] != nil || sub["a/b/c"] != nil {
		t.Fatalf("LIST (SUBSCRIBED) after DELETE news and CREATE a/b/c: %v", names(sub))
	}
	if err := c.Subscribe("a/b/c").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe("news").Wait(); err != nil {
		t.Fatal(err)
	}

	r := dialRaw(t, env.addr)
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	untagged, tagged := r.cmd("s", `LSUB "" "*"`)
	if !strings.HasPrefix(tagged, "s OK") {
		t.Fatalf("LSUB: %q", tagged)
	}
	joined := strings.Join(untagged, "\n")
	if !strings.Contains(joined, "* LSUB") || !strings.Contains(joined, "news") || strings.Contains(joined, "Junk") {
		t.Fatalf("LSUB: %q", untagged)
	}
}

func TestStatus(t *testing.T) {
	env := newTestEnv(t, nil)
	ctx := context.Background()
	var size int64
	var uids []uint32
	for i := 0; i < 3; i++ {
		msg := testMessage(fmt.Sprint("status ", i), "bob@example.org", strings.Repeat("x", 10*i))
		size += int64(len(msg))
		uids = append(uids, env.deliver(t, msg))
	}
	if _, err := env.store.StoreFlags(ctx, env.inboxID, mailstore.UIDs(uids[0]), mailstore.FlagsAdd, []string{`\Seen`}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.store.StoreFlags(ctx, env.inboxID, mailstore.UIDs(uids[1]), mailstore.FlagsAdd, []string{`\Deleted`}); err != nil {
		t.Fatal(err)
	}
	inbox, _ := env.store.GetMailbox(ctx, env.user.ID, "INBOX")
	c := env.login(t, nil)

	all := &imap.StatusOptions{NumMessages: true, NumUnseen: true, UIDNext: true, UIDValidity: true, Size: true, NumDeleted: true}
	st, err := c.Status("INBOX", all).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if *st.NumMessages != 3 || *st.NumUnseen != 2 || *st.NumDeleted != 1 || *st.Size != size ||
		st.UIDNext != imap.UID(uids[2]+1) || st.UIDValidity != inbox.UIDValidity {
		t.Fatalf("STATUS INBOX: messages %d unseen %d deleted %d size %d (want %d) uidnext %d uidvalidity %d (want %d)",
			*st.NumMessages, *st.NumUnseen, *st.NumDeleted, *st.Size, size, st.UIDNext, st.UIDValidity, inbox.UIDValidity)
	}
	wantCode(t, wait2(c.Status("nosuch", all).Wait()), imap.ResponseCodeNonExistent, "STATUS of a missing mailbox")

	// LIST RETURN (STATUS ...).
	list := listAll(t, c, "*", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{NumMessages: true, NumUnseen: true}})
	for name, d := range list {
		if d.Status == nil || d.Status.NumMessages == nil {
			t.Fatalf("LIST RETURN (STATUS): %s has no status", name)
		}
		want := uint32(0)
		if name == "INBOX" {
			want = 3
		}
		if *d.Status.NumMessages != want {
			t.Errorf("LIST-STATUS %s: %d messages, want %d", name, *d.Status.NumMessages, want)
		}
	}
	if *list["INBOX"].Status.NumUnseen != 2 {
		t.Errorf("LIST-STATUS INBOX unseen %d", *list["INBOX"].Status.NumUnseen)
	}
}

func wait2[T any](_ T, err error) error { return err }

func TestNamespace(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.login(t, nil)
	ns, err := c.Namespace().Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(ns.Personal) != 1 || ns.Personal[0].Prefix != "" || ns.Personal[0].Delim != '/' ||
		len(ns.Other) != 1 || ns.Other[0].Prefix != "Other Users/" || ns.Other[0].Delim != '/' || len(ns.Shared) != 0 {
		t.Fatalf("NAMESPACE: %+v", ns)
	}
}

// appendMsg APPENDs msg with imapclient.
func appendMsg(c *imapclient.Client, mailbox, msg string, opts *imap.AppendOptions) (*imap.AppendData, error) {
	cmd := c.Append(mailbox, int64(len(msg)), opts)
	// A refused synchronizing literal fails Write; Close must still run
	// (it releases the client's encoder), and Wait has the answer.
	_, _ = cmd.Write([]byte(msg))
	_ = cmd.Close()
	return cmd.Wait()
}

func TestAppend(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.login(t, nil)
	ctx := context.Background()
	sent, _ := env.store.GetMailbox(ctx, env.user.ID, "Sent")

	// Bare LF in a MIME message with 8-bit text, more than 4096 bytes
	// (LITERAL+ non-synchronizing literal).
	msg := testMessage("appended", "alice@example.test", "Grüße\r\n"+strings.Repeat("line of text\r\n", 400))
	date := time.Date(2023, 5, 6, 7, 8, 9, 0, time.FixedZone("", -7*3600))
	data, err := appendMsg(c, "Sent", msg, &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen, "$Label1"}, Time: date})
	if err != nil {
		t.Fatalf("APPEND: %v", err)
	}
	if data.UIDValidity != sent.UIDValidity || data.UID != 1 {
		t.Fatalf("APPENDUID %d %d, want %d 1", data.UIDValidity, data.UID, sent.UIDValidity)
	}
	if _, err := c.Select("Sent", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	m := fetchOne(t, c, uint32(data.UID), &imap.FetchOptions{
		Flags: true, InternalDate: true, RFC822Size: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	if got := m.FindBodySection(&imap.FetchItemBodySection{Peek: true}); !bytes.Equal(got, []byte(msg)) {
		t.Fatalf("BODY[] of the appended message differs:\n%q\nwant\n%q", got, msg)
	}
	if m.RFC822Size != int64(len(msg)) {
		t.Errorf("RFC822.SIZE %d, want %d", m.RFC822Size, len(msg))
	}
	if !m.InternalDate.Equal(date) {
		t.Errorf("INTERNALDATE %v, want %v", m.InternalDate, date)
	}
	if m.Flags = noRecent(m.Flags); !hasFlag(m.Flags, imap.FlagSeen) || !hasFlag(m.Flags, "$Label1") || len(m.Flags) != 2 {
		t.Errorf("FLAGS %v", m.Flags)
	}

	// APPEND to the selected mailbox: the client hears of it.
	data2, err := appendMsg(c, "Sent", testMessage("second", "alice@example.test", "x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Mailbox().NumMessages; n != 2 {
		t.Fatalf("after APPEND to the selected mailbox the client counts %d messages", n)
	}
	if data2.UID != data.UID+1 {
		t.Fatalf("second APPENDUID %d", data2.UID)
	}

	_, err = appendMsg(c, "Nosuch", msg, nil)
	wantCode(t, err, imap.ResponseCodeTryCreate, "APPEND to a missing mailbox")
}

func TestAppendOverQuota(t *testing.T) {
	env := newTestEnv(t, nil)
	n := int64(1000)
	if _, err := env.store.UpdateUser(context.Background(), testAddr, mailstore.UserUpdate{QuotaBytes: &n}); err != nil {
		t.Fatal(err)
	}
	c := env.login(t, nil)
	if _, err := appendMsg(c, "INBOX", testMessage("small", "a@example.org", "x"), nil); err != nil {
		t.Fatalf("APPEND within quota: %v", err)
	}
	_, err := appendMsg(c, "INBOX", testMessage("big", "a@example.org", strings.Repeat("x", 2000)), nil)
	wantCode(t, err, imap.ResponseCodeOverQuota, "APPEND over quota")
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestAppendTooBig(t *testing.T) {
	env := newTestEnv(t, func(o *Options) { o.AppendLimit = 1000 })
	r := dialRaw(t, env.addr)
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	// A synchronizing literal is refused before it is sent.
	if _, tagged := r.cmd("a", "APPEND INBOX {2000}"); !strings.HasPrefix(tagged, "a NO [TOOBIG]") {
		t.Fatalf("APPEND over the limit: %q", tagged)
	}
	if _, tagged := r.cmd("n", "NOOP"); !strings.HasPrefix(tagged, "n OK") {
		t.Fatalf("NOOP after TOOBIG: %q", tagged)
	}
	// Within the limit it works.
	msg := testMessage("fits", "a@example.org", "x")
	r.send(fmt.Sprintf("b APPEND INBOX {%d}", len(msg)))
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("APPEND: %q", l)
	}
	r.send(msg)
	if l := r.line(); !strings.HasPrefix(l, "b OK [APPENDUID") {
		t.Fatalf("APPEND within the limit: %q", l)
	}
	st, err := env.store.Status(context.Background(), env.inboxID)
	if err != nil || st.Messages != 1 {
		t.Fatalf("status %+v %v", st, err)
	}
}

// A message refused for its size is not read as commands, even when the
// client sent it without waiting (LITERAL+, RFC 7888 §4): the server
// reads and drops it.
func TestAppendTooBigNotExecuted(t *testing.T) {
	env := newTestEnv(t, func(o *Options) { o.AppendLimit = 5000 })
	c := env.login(t, nil)
	if !c.Caps().Has(imap.CapLiteralPlus) {
		t.Fatalf("LITERAL+ not announced")
	}
	c.Close()
	msg := testMessage("big", "a@example.org", "x1 DELETE Junk\r\n"+strings.Repeat("padding line\r\n", 500))
	r := dialRaw(t, env.addr)
	r.cmd("l", "LOGIN "+testAddr+" \""+testPass+"\"")
	r.send(fmt.Sprintf("a APPEND INBOX {%d+}\r\n%s", len(msg), msg))
	if l := r.line(); !strings.HasPrefix(l, "a NO [TOOBIG]") {
		t.Fatalf("APPEND over the limit: %q", l)
	}
	if _, tagged := r.cmd("n", "NOOP"); !strings.HasPrefix(tagged, "n OK") {
		t.Fatalf("NOOP after the refused APPEND: %q", tagged)
	}
	if _, err := env.store.GetMailbox(context.Background(), env.user.ID, "Junk"); err != nil {
		t.Fatalf("the refused message was executed: %v", err)
	}
}

// The selected mailbox is recognized whatever it was renamed to, and
// RENAME INBOX (which moves the messages out) leaves INBOX selected.
func TestDeleteSelectedAfterRename(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.login(t, nil)
	if err := c.Create("a/b", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("a/b", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("a", "z", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.Delete("z/b").Wait(), imap.ResponseCodeInUse, "DELETE of the selected mailbox after its parent's RENAME")

	env.deliver(t, testMessage("m", "bob@example.org", "x"))
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("INBOX", "old-inbox", nil).Wait(); err != nil {
		t.Fatalf("RENAME INBOX: %v", err)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if n := c.Mailbox().NumMessages; n != 0 {
		t.Fatalf("INBOX after RENAME INBOX: %d messages", n)
	}
	if err := c.Delete("old-inbox").Wait(); err != nil {
		t.Fatalf("DELETE of the mailbox INBOX was renamed to: %v", err)
	}
}
