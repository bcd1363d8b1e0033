package imapmsg

import (
	"cmp"
	"fmt"
	"github.com/yubinmail/yubin/core/collate"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/core/mimeparse"
)

// MaxThreadReferences caps how many message identifiers of one message's
// References field THREAD=REFERENCES links; the last ones are kept, as
// they name the closest ancestors.
const MaxThreadReferences = 1000

// ThreadInfo is what THREAD needs from one message's header (RFC 5256 §3).
type ThreadInfo struct {
	MessageID      string    // first identifier of Message-ID, without angle brackets; "" if none
	References     []string  // References identifiers, or else the first In-Reply-To identifier
	Subject        string    // base subject (RFC 5256 §2.1) in i;unicode-casemap form
	ReplyOrForward bool      // the subject marked a reply or forward
	SentDate       time.Time // Date header in UTC; zero when missing or unparseable
}

// ThreadInfoOf extracts the THREAD fields from a message's header. raw may
// be the whole message or only its header block (see ReadHeader).
func ThreadInfoOf(raw []byte) ThreadInfo {
	h := mimeparse.ParseHeader(raw)
	return threadInfoOf(&h)
}

// ThreadInfo returns the message's THREAD fields; see ThreadInfoOf.
func (m *Message) ThreadInfo() ThreadInfo {
	return threadInfoOf(m.root.Header())
}

// threadInfoOf extracts the THREAD fields from a header block.
func threadInfoOf(h *mimeparse.Header) ThreadInfo {
	var ti ThreadInfo
	if ids := msgIDs(h.Get("Message-Id")); len(ids) > 0 {
		ti.MessageID = ids[0]
	}
	// RFC 5256 §3 REFERENCES (1): the References field, or else the first
	// valid identifier of In-Reply-To. Only bracketed identifiers count.
	ti.References = bracketedIDs(h.Get("References"))
	if len(ti.References) == 0 {
		if ids := bracketedIDs(h.Get("In-Reply-To")); len(ids) > 0 {
			ti.References = ids[:1]
		}
	}
	if len(ti.References) > MaxThreadReferences {
		ti.References = ti.References[len(ti.References)-MaxThreadReferences:]
	}
	base, reply := BaseSubject(h.Get("Subject"))
	ti.Subject, ti.ReplyOrForward = collate.UnicodeCasemap(base), reply
	if t, ok := parseDate(h.Get("Date")); ok {
		ti.SentDate = t.UTC()
	}
	return ti
}

// bracketedIDs returns the "<...>" message identifiers of v, without the
// brackets and with white space removed.
func bracketedIDs(v string) []string {
	var ids []string
	for {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			return ids
		}
		j := strings.IndexByte(v[i+1:], '>')
		if j < 0 {
			return ids
		}
		if id := strings.Join(strings.Fields(v[i+1:i+1+j]), ""); id != "" {
			ids = append(ids, id)
		}
		v = v[i+1+j+1:]
	}
}

// ThreadRecord is one message to be threaded: its numbers, its internal
// date (the sent date when the header has none) and its header fields.
type ThreadRecord struct {
	SeqNum       uint32
	UID          imap.UID
	InternalDate time.Time
	Info         ThreadInfo
}

// ThreadNode is one node of a THREAD result. A dummy node (RFC 5256 §3
// REFERENCES) stands for a message that is not in the result; it has
// SeqNum and UID 0 and at least two children.
type ThreadNode struct {
	SeqNum   uint32
	UID      imap.UID
	Children []*ThreadNode
}

// IsDummy reports whether n stands for a missing message.
func (n *ThreadNode) IsDummy() bool {
	return n.SeqNum == 0 && n.UID == 0
}

// Thread threads records with the ORDEREDSUBJECT or REFERENCES algorithm
// of RFC 5256 §3 and returns the threads in the order of the THREAD
// response. Messages whose sent dates are equal are ordered by sequence
// number. An unknown algorithm is an error.
func Thread(alg imap.ThreadAlgorithm, records []ThreadRecord) ([]*ThreadNode, error) {
	switch strings.ToUpper(string(alg)) {
	case string(imap.ThreadOrderedSubject):
		return threadOrderedSubject(records), nil
	case string(imap.ThreadReferences):
		return threadReferences(records), nil
	}
	return nil, fmt.Errorf("imapmsg: unknown threading algorithm %q", cleanText(string(alg)))
}

// sentDate is the record's sent date (RFC 5256 §2.2).
func (r *ThreadRecord) sentDate() time.Time {
	if !r.Info.SentDate.IsZero() {
		return r.Info.SentDate
	}
	return r.InternalDate.UTC()
}

// compareByDate orders two records by sent date, then sequence number.
func compareByDate(a, b *ThreadRecord) int {
	if d := a.sentDate().Compare(b.sentDate()); d != 0 {
		return d
	}
	if d := cmp.Compare(a.SeqNum, b.SeqNum); d != 0 {
		return d
	}
	return cmp.Compare(a.UID, b.UID)
}

// threadOrderedSubject implements ORDEREDSUBJECT: messages are grouped by
// base subject and ordered by sent date; the first of each group is the
// root, the others its children; groups are ordered by their first
// message's sent date.
func threadOrderedSubject(records []ThreadRecord) []*ThreadNode {
	order := make([]*ThreadRecord, len(records))
	for i := range records {
		order[i] = &records[i]
	}
	slices.SortFunc(order, func(a, b *ThreadRecord) int {
		if d := strings.Compare(a.Info.Subject, b.Info.Subject); d != 0 {
			return d
		}
		return compareByDate(a, b)
	})
	type group struct {
		first *ThreadRecord
		node  *ThreadNode
	}
	var groups []group
	for i, r := range order {
		n := &ThreadNode{SeqNum: r.SeqNum, UID: r.UID}
		if i > 0 && r.Info.Subject == order[i-1].Info.Subject {
			root := groups[len(groups)-1].node
			root.Children = append(root.Children, n)
			continue
		}
		groups = append(groups, group{first: r, node: n})
	}
	slices.SortStableFunc(groups, func(a, b group) int { return compareByDate(a.first, b.first) })
	out := make([]*ThreadNode, len(groups))
	for i, g := range groups {
		out[i] = g.node
	}
	return out
}

// container is a node of the REFERENCES algorithm: a message or a dummy,
// linked to its parent and its children (a doubly linked sibling list so
// that unlinking is cheap).
type container struct {
	rec                   *ThreadRecord // nil for a dummy
	parent                *container
	firstChild, lastChild *container
	prev, next            *container
}

// addChild appends c to p's children; c must have no parent.
func (p *container) addChild(c *container) {
	c.parent = p
	c.prev, c.next = p.lastChild, nil
	if p.lastChild != nil {
		p.lastChild.next = c
	} else {
		p.firstChild = c
	}
	p.lastChild = c
}

// unlink removes c from its parent's children.
func (c *container) unlink() {
	p := c.parent
	if p == nil {
		return
	}
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		p.firstChild = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		p.lastChild = c.prev
	}
	c.parent, c.prev, c.next = nil, nil, nil
}

// children returns c's children in order.
func (c *container) children() []*container {
	var out []*container
	for k := c.firstChild; k != nil; k = k.next {
		out = append(out, k)
	}
	return out
}

// setChildren replaces c's children by kids, in that order.
func (c *container) setChildren(kids []*container) {
	for k := c.firstChild; k != nil; {
		next := k.next
		k.parent, k.prev, k.next = nil, nil, nil
		k = next
	}
	c.firstChild, c.lastChild = nil, nil
	for _, k := range kids {
		k.parent = nil
		c.addChild(k)
	}
}

// isAncestorOf reports whether c is a or one of a's ancestors. Without
// children c can only be a itself, which keeps linking new messages and
// references cheap however deep the thread.
func (c *container) isAncestorOf(a *container) bool {
	if c.firstChild == nil {
		return c == a
	}
	for x := a; x != nil; x = x.parent {
		if x == c {
			return true
		}
	}
	return false
}

// firstMessage returns the record that stands for c when sorting and
// finding a thread's subject: c's own, or its first child's for a dummy.
func (c *container) firstMessage() *ThreadRecord {
	if c.rec != nil {
		return c.rec
	}
	if c.firstChild != nil {
		return c.firstChild.rec
	}
	return nil
}

// compareContainers orders containers by the sent date of their first
// message (RFC 5256 §3 REFERENCES steps 4 and 6).
func compareContainers(a, b *container) int {
	ra, rb := a.firstMessage(), b.firstMessage()
	switch {
	case ra == nil && rb == nil:
		return 0
	case ra == nil:
		return -1
	case rb == nil:
		return 1
	}
	return compareByDate(ra, rb)
}

// threadReferences implements the REFERENCES algorithm of RFC 5256 §3.
func threadReferences(records []ThreadRecord) []*ThreadNode {
	order := make([]*ThreadRecord, len(records))
	for i := range records {
		order[i] = &records[i]
	}
	// Lower sequence numbers keep a duplicated Message-ID.
	slices.SortFunc(order, func(a, b *ThreadRecord) int {
		if d := cmp.Compare(a.SeqNum, b.SeqNum); d != 0 {
			return d
		}
		return cmp.Compare(a.UID, b.UID)
	})

	// (1) Link messages by their references.
	byID := make(map[string]*container, len(records))
	all := make([]*container, 0, len(records))
	lookup := func(id string) *container {
		c := byID[id]
		if c == nil {
			c = &container{}
			byID[id] = c
			all = append(all, c)
		}
		return c
	}
	for _, r := range order {
		var c *container
		if id := r.Info.MessageID; id != "" {
			if existing := byID[id]; existing == nil || existing.rec == nil {
				c = lookup(id)
			}
		}
		if c == nil {
			// No Message-ID, or a duplicate: the message gets a unique one.
			c = &container{}
			all = append(all, c)
		}
		c.rec = r

		// (1)(A) Link the references to each other, parent first, unless
		// the child already has a parent or the link would make a loop.
		var prev *container
		for _, ref := range r.Info.References {
			if ref == r.Info.MessageID {
				continue
			}
			rc := lookup(ref)
			if prev != nil && rc.parent == nil && !rc.isAncestorOf(prev) {
				prev.addChild(rc)
			}
			prev = rc
		}
		// (1)(B) The last reference becomes the message's parent.
		c.unlink()
		if prev != nil && !c.isAncestorOf(prev) {
			prev.addChild(c)
		}
	}

	// (2) Messages without a parent become children of the root.
	root := &container{}
	for _, c := range all {
		if c.parent == nil {
			root.addChild(c)
		}
	}

	// (3) Prune dummies.
	pruneDummies(root, true)

	// (4) Sort the root's children by sent date; a dummy sorts by its
	// first child after its own children are sorted.
	tops := root.children()
	for _, c := range tops {
		if c.rec == nil {
			kids := c.children()
			slices.SortStableFunc(kids, compareContainers)
			c.setChildren(kids)
		}
	}
	slices.SortStableFunc(tops, compareContainers)
	root.setChildren(tops)

	// (5) Gather threads with the same base subject.
	mergeBySubject(root)

	// (6) Sort every set of siblings by sent date, deepest first.
	sortSiblings(root)

	return toNodes(root)
}

// pruneDummies applies RFC 5256 §3 REFERENCES step 3 below c: a dummy
// without children is deleted, and a dummy with children is replaced by
// them, except that at the root level it stays unless it has only one
// child.
func pruneDummies(c *container, isRoot bool) {
	var kids []*container
	changed := false
	for k := c.firstChild; k != nil; k = k.next {
		pruneDummies(k, false)
		if k.rec != nil {
			kids = append(kids, k)
			continue
		}
		grand := k.children()
		switch {
		case len(grand) == 0:
			changed = true
		case !isRoot || len(grand) == 1:
			kids = append(kids, grand...)
			changed = true
		default:
			kids = append(kids, k)
		}
	}
	if changed {
		c.setChildren(kids)
	}
}

// threadSubject returns the base subject of the thread under c (RFC 5256
// §3 REFERENCES step 5.B.i).
func threadSubject(c *container) string {
	if r := c.firstMessage(); r != nil {
		return r.Info.Subject
	}
	return ""
}

// mergeBySubject applies RFC 5256 §3 REFERENCES step 5 to the root's
// children.
func mergeBySubject(root *container) {
	tops := root.children()
	table := make(map[string]*container)
	// (5)(B) One message per base subject, preferring dummies and then
	// messages that are not replies or forwards.
	for _, c := range tops {
		subj := threadSubject(c)
		if subj == "" {
			continue
		}
		old, ok := table[subj]
		if !ok {
			table[subj] = c
			continue
		}
		if old.rec != nil && (c.rec == nil || (old.rec.Info.ReplyOrForward && !c.rec.Info.ReplyOrForward)) {
			table[subj] = c
		}
	}
	// (5)(C) Merge threads with the same base subject.
	pos := make(map[*container]int, len(tops))
	for i, c := range tops {
		pos[c] = i
	}
	removed := make([]bool, len(tops))
	for i, c := range tops {
		if removed[i] || c.parent != root {
			continue
		}
		subj := threadSubject(c)
		if subj == "" {
			continue
		}
		t := table[subj]
		if t == c {
			continue
		}
		switch {
		case t.rec == nil && c.rec == nil:
			for _, k := range c.children() {
				k.unlink()
				t.addChild(k)
			}
			c.unlink()
			removed[i] = true
		case t.rec == nil:
			c.unlink()
			t.addChild(c)
			removed[i] = true
		case c.rec.Info.ReplyOrForward && !t.rec.Info.ReplyOrForward:
			c.unlink()
			t.addChild(c)
			removed[i] = true
		default:
			// A new dummy takes the table message's place at the root
			// and holds both messages.
			d := &container{}
			j := pos[t]
			tops[j] = d
			pos[d] = j
			t.unlink()
			c.unlink()
			d.addChild(t)
			d.addChild(c)
			removed[i] = true
			table[subj] = d
		}
	}
	var kept []*container
	for i, c := range tops {
		if !removed[i] {
			kept = append(kept, c)
		}
	}
	root.setChildren(kept)
}

// sortSiblings sorts the children of c and of all its descendants by sent
// date, children before parents so that a dummy sorts by its first child.
func sortSiblings(c *container) {
	kids := c.children()
	if len(kids) == 0 {
		return
	}
	for _, k := range kids {
		sortSiblings(k)
	}
	slices.SortStableFunc(kids, compareContainers)
	c.setChildren(kids)
}

// toNodes converts the root's children into ThreadNodes.
func toNodes(root *container) []*ThreadNode {
	var conv func(c *container) *ThreadNode
	conv = func(c *container) *ThreadNode {
		n := &ThreadNode{}
		if c.rec != nil {
			n.SeqNum, n.UID = c.rec.SeqNum, c.rec.UID
		}
		for k := c.firstChild; k != nil; k = k.next {
			n.Children = append(n.Children, conv(k))
		}
		return n
	}
	var out []*ThreadNode
	for k := root.firstChild; k != nil; k = k.next {
		out = append(out, conv(k))
	}
	return out
}

// AppendThreads appends the thread lists of a THREAD response (RFC 5256
// §4 and §5: thread-list *thread-list, such as "(2)(3 6 (4 23)(44 7 96))") to
// dst, numbering messages by UID when uid is set and by sequence number
// otherwise. A message with one child is followed by that child; one with
// several children is followed by a parenthesised list per child; a dummy
// writes only its children. The caller writes "* THREAD " before it.
func AppendThreads(dst []byte, threads []*ThreadNode, uid bool) []byte {
	for _, t := range threads {
		dst = append(dst, '(')
		dst = appendThreadMembers(dst, t, uid)
		dst = append(dst, ')')
	}
	return dst
}

// appendThreadMembers writes a node and its descendants inside one
// thread-list: a chain of single children iteratively, branches
// recursively.
func appendThreadMembers(dst []byte, n *ThreadNode, uid bool) []byte {
	wrote := false
	for {
		if !n.IsDummy() {
			if wrote {
				dst = append(dst, ' ')
			}
			num := uint64(n.SeqNum)
			if uid {
				num = uint64(n.UID)
			}
			dst = strconv.AppendUint(dst, num, 10)
			wrote = true
		}
		switch len(n.Children) {
		case 0:
			return dst
		case 1:
			n = n.Children[0]
			continue
		}
		if wrote {
			dst = append(dst, ' ')
		}
		for _, k := range n.Children {
			dst = append(dst, '(')
			dst = appendThreadMembers(dst, k, uid)
			dst = append(dst, ')')
		}
		return dst
	}
}
