package imapserver

import (
	"slices"
	"strings"
	"sync"

	"github.com/yubinmail/yubin/mailstore"
)

// NOTIFY (RFC 5465): a client names the mailboxes it is interested in and
// the events it wants to hear about; the server then reports them as they
// happen, also between commands. The hub hands every change of the user's
// mail to the session's notifyQueue; a goroutine per session (deliverer)
// writes the reports whenever no command is running (it takes wmu, which a
// running command holds), and IDLE and the end of each command report
// what is due as before.

// notifyEvents is a set of NOTIFY events.
type notifyEvents uint16

// The events of RFC 5465 §5.
const (
	evMessageNew notifyEvents = 1 << iota
	evMessageExpunge
	evFlagChange
	evAnnotationChange
	evMailboxName
	evSubscriptionChange
	evMailboxMetadataChange
	evServerMetadataChange
)

// notifyEventNames spells the events, in the order BADEVENT lists them.
var notifyEventNames = []struct {
	name string
	ev   notifyEvents
}{
	{"MessageNew", evMessageNew},
	{"MessageExpunge", evMessageExpunge},
	{"FlagChange", evFlagChange},
	{"AnnotationChange", evAnnotationChange},
	{"MailboxName", evMailboxName},
	{"SubscriptionChange", evSubscriptionChange},
	{"MailboxMetadataChange", evMailboxMetadataChange},
	{"ServerMetadataChange", evServerMetadataChange},
}

// supportedEvents are the events served: all but AnnotationChange, as
// there is no ANNOTATE (RFC 5257).
const supportedEvents = evMessageNew | evMessageExpunge | evFlagChange | evMailboxName |
	evSubscriptionChange | evMailboxMetadataChange | evServerMetadataChange

// messageEvents are the events about a mailbox's messages.
const messageEvents = evMessageNew | evMessageExpunge | evFlagChange | evAnnotationChange

// notifyFilter is the filter-mailboxes of an event group.
type notifyFilter int

const (
	filterSelected notifyFilter = iota
	filterSelectedDelayed
	filterInboxes
	filterPersonal
	filterSubscribed
	filterSubtree
	filterMailboxes
)

var notifyFilterNames = map[string]notifyFilter{
	"SELECTED": filterSelected, "SELECTED-DELAYED": filterSelectedDelayed, "INBOXES": filterInboxes,
	"PERSONAL": filterPersonal, "SUBSCRIBED": filterSubscribed, "SUBTREE": filterSubtree, "MAILBOXES": filterMailboxes,
}

// Bounds of one NOTIFY command and of a session's queue.
const (
	maxNotifyGroups    = 32
	maxNotifyMailboxes = 256 // mailbox names in one group
	// defaultNotifyQueue is how many changes may wait for a session that
	// does not read its notifications; beyond, it gets
	// NOTIFICATIONOVERFLOW and NOTIFY is off (RFC 5465 §5.8).
	defaultNotifyQueue = 2000
)

// notifyGroup is one event group of NOTIFY SET.
type notifyGroup struct {
	filter notifyFilter
	names  []string // subtree and mailboxes: UTF-8 names
	events notifyEvents
	fetch  *fetchRequest // MessageNew's fetch attributes (selected only)
}

// matches reports whether a (not selected) mailbox falls under the group.
func (g *notifyGroup) matches(name string, subscribed map[string]bool) bool {
	switch g.filter {
	case filterInboxes, filterPersonal:
		// Sieve rules and filters may deliver into any mailbox, so the
		// inboxes are all personal mailboxes (RFC 5465 §6.3).
		return true
	case filterSubscribed:
		return subscribed[name]
	case filterSubtree:
		for _, n := range g.names {
			if name == n || strings.HasPrefix(name, n+delim) {
				return true
			}
		}
	case filterMailboxes:
		return slices.Contains(g.names, name)
	}
	return false
}

// notifySpec is what NOTIFY SET asked for.
type notifySpec struct {
	status bool
	groups []notifyGroup
}

// selectedGroup returns the group for the selected mailbox, nil if none.
func (sp *notifySpec) selectedGroup() *notifyGroup {
	for i := range sp.groups {
		if f := sp.groups[i].filter; f == filterSelected || f == filterSelectedDelayed {
			return &sp.groups[i]
		}
	}
	return nil
}

// groupFor returns the first group other than selected and
// selected-delayed that a mailbox falls under, nil if none. (The selected
// groups take only message events, which the selected mailbox's view
// reports; a mailbox matched by several groups gets the first one's
// events, so that a group with NONE can leave it out of a later one.)
func (s *session) groupFor(name string) *notifyGroup {
	sp := s.ntf.spec
	for i := range sp.groups {
		g := &sp.groups[i]
		if g.filter != filterSelected && g.filter != filterSelectedDelayed && g.matches(name, s.ntf.subs) {
			return g
		}
	}
	return nil
}

// notifyQueue holds the changes of a user's mail a session has not
// reported yet; bounded, it overflows instead of growing.
type notifyQueue struct {
	userID   int64
	limit    int
	mu       sync.Mutex
	evs      []mailstore.Event
	overflow bool
	nudge    chan struct{}
}

func (q *notifyQueue) push(ev mailstore.Event) {
	q.mu.Lock()
	if len(q.evs) >= q.limit {
		q.overflow, q.evs = true, nil
	} else if !q.overflow {
		q.evs = append(q.evs, ev)
	}
	q.mu.Unlock()
	select {
	case q.nudge <- struct{}{}:
	default:
	}
}

// take empties the queue; overflow says whether changes were lost.
func (q *notifyQueue) take() (evs []mailstore.Event, overflow bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	evs, overflow = q.evs, q.overflow
	q.evs, q.overflow = nil, false
	return evs, overflow
}

// notifyWatchers hands ev to the NOTIFY queues of its user.
func (h *hub) notifyWatchers(ev mailstore.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	user := ev.UserID
	if ev.SeenUser != 0 {
		// A private \Seen change is only its user's (mailstore/seen.go).
		user = ev.SeenUser
	}
	for q := range h.watchers[user] {
		q.push(ev)
	}
}

func (h *hub) watch(q *notifyQueue) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.watchers[q.userID] == nil {
		h.watchers[q.userID] = map[*notifyQueue]struct{}{}
	}
	h.watchers[q.userID][q] = struct{}{}
}

func (h *hub) unwatch(q *notifyQueue) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.watchers[q.userID], q)
	if len(h.watchers[q.userID]) == 0 {
		delete(h.watchers, q.userID)
	}
}

// notifyState is a session's NOTIFY: its request, its queue, what it knows
// of the user's mailboxes (to tell creations, deletions and renames apart)
// and its deliverer goroutine. Only the holder of wmu uses it.
type notifyState struct {
	spec  *notifySpec
	q     *notifyQueue
	boxes map[int64]string // mailbox ID → name
	subs  map[string]bool  // the subscription list
	stop  chan struct{}
	done  chan struct{}
}

// cmdNotify runs NOTIFY SET and NOTIFY NONE.
func (s *session) cmdNotify(c *command) error {
	if err := s.r.sp(); err != nil {
		return err
	}
	verb, err := s.r.atom("SET or NONE")
	if err != nil {
		return err
	}
	switch strings.ToUpper(verb) {
	case "NONE":
		if err := s.r.end(); err != nil {
			return err
		}
		s.stopNotify()
		return nil
	case "SET":
	default:
		return badf("NOTIFY takes SET or NONE")
	}
	spec, err := s.parseNotifySet()
	if err != nil {
		return err
	}
	s.stopNotify()
	boxes, err := s.acct.ListMailboxes(s.ctx)
	if err != nil {
		return s.storeErr("notify", err, "NONEXISTENT")
	}
	subs, err := s.acct.ListSubscriptions(s.ctx)
	if err != nil {
		return s.storeErr("notify", err, "NONEXISTENT")
	}
	limit := s.srv.opts.notifyQueue
	if limit <= 0 {
		limit = defaultNotifyQueue
	}
	n := &notifyState{
		spec:  spec,
		q:     &notifyQueue{userID: s.acct.ID(), limit: limit, nudge: make(chan struct{}, 1)},
		boxes: make(map[int64]string, len(boxes)),
		subs:  make(map[string]bool, len(subs)),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	for _, mb := range boxes {
		n.boxes[mb.ID] = mb.Name
	}
	for _, name := range subs {
		n.subs[name] = true
	}
	s.ntf = n
	s.srv.hub.watch(n.q)
	s.notifyWatchView()
	if spec.status {
		for _, mb := range boxes {
			if s.sel != nil && s.sel.mailbox.ID == mb.ID {
				continue
			}
			if g := s.groupFor(mb.Name); g != nil && g.events&messageEvents != 0 {
				s.writeNotifyStatus(&mb)
			}
		}
	}
	go s.deliverNotifications(n)
	return nil
}

// parseNotifySet reads the rest of NOTIFY SET (RFC 5465 §8):
// [SP "STATUS"] 1*(SP event-group).
func (s *session) parseNotifySet() (*notifySpec, error) {
	spec := &notifySpec{}
	if err := s.r.sp(); err != nil {
		return nil, err
	}
	if s.r.peekWord("STATUS") {
		s.r.pos += len("STATUS")
		spec.status = true
		if err := s.r.sp(); err != nil {
			return nil, err
		}
	}
	selected := false
	for {
		if len(spec.groups) >= maxNotifyGroups {
			return nil, badf("Too many NOTIFY event groups (at most %d)", maxNotifyGroups)
		}
		g, err := s.notifyGroup()
		if err != nil {
			return nil, err
		}
		if g.filter == filterSelected || g.filter == filterSelectedDelayed {
			if selected {
				return nil, badf("The selected mailbox is named twice")
			}
			selected = true
		}
		spec.groups = append(spec.groups, g)
		if s.r.atEnd() {
			return spec, nil
		}
		if err := s.r.sp(); err != nil {
			return nil, err
		}
	}
}

// notifyGroup reads "(" filter-mailboxes SP events ")".
func (s *session) notifyGroup() (notifyGroup, error) {
	var g notifyGroup
	if err := s.r.expect('(', "an event group"); err != nil {
		return g, err
	}
	f, err := s.r.atom("a mailbox filter")
	if err != nil {
		return g, err
	}
	filter, ok := notifyFilterNames[strings.ToUpper(f)]
	if !ok {
		return g, badf("Unknown NOTIFY mailbox filter %s", f)
	}
	g.filter = filter
	if filter == filterSubtree || filter == filterMailboxes {
		if err := s.r.sp(); err != nil {
			return g, err
		}
		if g.names, err = s.notifyMailboxes(); err != nil {
			return g, err
		}
	}
	if err := s.r.sp(); err != nil {
		return g, err
	}
	if err := s.notifyEvents(&g); err != nil {
		return g, err
	}
	if err := s.r.expect(')', "the end of the event group"); err != nil {
		return g, err
	}
	return g, nil
}

// notifyMailboxes reads one-or-more-mailbox.
func (s *session) notifyMailboxes() ([]string, error) {
	if !s.r.accept('(') {
		name, err := s.mailboxName()
		if err != nil {
			return nil, err
		}
		return []string{name}, nil
	}
	var names []string
	for {
		if len(names) >= maxNotifyMailboxes {
			return nil, badf("Too many mailboxes in one event group (at most %d)", maxNotifyMailboxes)
		}
		name, err := s.mailboxName()
		if err != nil {
			return nil, err
		}
		names = append(names, name)
		if s.r.accept(')') {
			return names, nil
		}
		if err := s.r.sp(); err != nil {
			return nil, err
		}
	}
}

// notifyEvents reads "(" event *(SP event) ")" or "NONE" and checks the
// combination (RFC 5465 §5).
func (s *session) notifyEvents(g *notifyGroup) error {
	if !s.r.accept('(') {
		a, err := s.r.atom("NONE or a list of events")
		if err != nil {
			return err
		}
		if !strings.EqualFold(a, "NONE") {
			return badf("Expected NONE or a list of events")
		}
		return nil
	}
	var unsupported bool
	for n := 0; ; n++ {
		if n >= 16 {
			return badf("Too many events in one event group")
		}
		name, err := s.r.atom("an event")
		if err != nil {
			return err
		}
		var ev notifyEvents
		for _, e := range notifyEventNames {
			if strings.EqualFold(e.name, name) {
				ev = e.ev
			}
		}
		if ev&supportedEvents == 0 {
			unsupported = true
		}
		g.events |= ev
		if ev == evMessageNew && s.r.peekFetchAtts() {
			s.r.pos++ // the space
			req, err := s.r.fetchAttList()
			if err != nil {
				return err
			}
			g.fetch = req
		}
		if s.r.accept(')') {
			break
		}
		if err := s.r.sp(); err != nil {
			return err
		}
	}
	if unsupported {
		var b strings.Builder
		b.WriteString("BADEVENT (")
		sep := ""
		for _, e := range notifyEventNames {
			if e.ev&supportedEvents != 0 {
				b.WriteString(sep + e.name)
				sep = " "
			}
		}
		b.WriteString(")")
		return &statusError{code: b.String(), text: "Unsupported NOTIFY event"}
	}
	if (g.events&evMessageNew != 0) != (g.events&evMessageExpunge != 0) {
		return badf("MessageNew and MessageExpunge go together")
	}
	if g.events&evFlagChange != 0 && g.events&evMessageNew == 0 {
		return badf("FlagChange needs MessageNew and MessageExpunge")
	}
	selected := g.filter == filterSelected || g.filter == filterSelectedDelayed
	if g.fetch != nil && !selected {
		return badf("Fetch attributes are only for the selected mailbox")
	}
	if selected && g.events&^messageEvents != 0 {
		return badf("The selected mailbox takes only message events (RFC 5465 §6.1)")
	}
	return nil
}

// peekFetchAtts reports whether " (" follows: MessageNew's fetch
// attributes.
func (r *reader) peekFetchAtts() bool {
	return r.pos+1 < len(r.line) && r.line[r.pos] == ' ' && r.line[r.pos+1] == '('
}

// notifyFetch returns the fetch attributes NOTIFY asked for on new
// messages in the selected mailbox, nil if none: whichever poll reports a
// new message sends them.
func (s *session) notifyFetch() *fetchRequest {
	if s.ntf == nil {
		return nil
	}
	if g := s.ntf.spec.selectedGroup(); g != nil {
		return g.fetch
	}
	return nil
}

// notifyWatchView makes the selected mailbox's view wake the deliverer
// when NOTIFY asks to hear of it as things happen.
func (s *session) notifyWatchView() {
	if s.ntf == nil || s.sel == nil {
		return
	}
	if g := s.ntf.spec.selectedGroup(); g != nil && g.events != 0 {
		s.sel.view.setNudge(s.ntf.q.nudge)
	}
}

// stopNotify ends NOTIFY (NOTIFY NONE, a new NOTIFY SET, the end of the
// session). The caller holds wmu, which the deliverer may be waiting for:
// it is told to stop and not waited for.
func (s *session) stopNotify() {
	n := s.ntf
	if n == nil {
		return
	}
	s.ntf = nil
	s.srv.hub.unwatch(n.q)
	close(n.stop)
	if s.sel != nil {
		s.sel.view.setNudge(nil)
	}
}

// endNotify stops NOTIFY when the session ends and waits for the
// deliverer, so that nothing writes after it.
func (s *session) endNotify() {
	s.wmu.Lock()
	n := s.ntf
	s.stopNotify()
	s.wmu.Unlock()
	if n != nil {
		<-n.done
	}
}

// deliverNotifications writes n's reports whenever something happens and
// no command runs, until n stops.
func (s *session) deliverNotifications(n *notifyState) {
	defer close(n.done)
	for {
		select {
		case <-n.stop:
			return
		case <-n.q.nudge:
		}
		s.wmu.Lock()
		if s.ntf != n {
			s.wmu.Unlock()
			return
		}
		s.reportNotifications()
		err := s.flush()
		s.wmu.Unlock()
		if err != nil {
			return
		}
	}
}

// reportNotifications writes what NOTIFY asked for that happened, between
// commands or during IDLE.
func (s *session) reportNotifications() {
	n := s.ntf
	if n == nil {
		return
	}
	if s.sel != nil {
		if g := n.spec.selectedGroup(); g != nil && g.events != 0 {
			s.pollWith(pollOpts{
				allowExpunge: g.filter == filterSelected,
				holdFlags:    g.events&evFlagChange == 0,
				fetchNew:     g.fetch,
			})
		}
	}
	s.reportQueued()
}

// reportQueued writes what NOTIFY asked for about the changes queued for
// the session: between commands, and at the end of each command, so that
// a command reports every change made before it started.
func (s *session) reportQueued() {
	n := s.ntf
	if n == nil {
		return
	}
	evs, overflow := n.q.take()
	if overflow {
		s.w.s("* OK [NOTIFICATIONOVERFLOW] Too many changes; NOTIFY is off\r\n")
		s.stopNotify()
		return
	}
	var statusOf []int64 // mailboxes whose STATUS is due, in order
	// The session's own changes are not reported back (RFC 5465 §5),
	// but what it knows of the mailboxes is brought up to date.
	own := s.ownChangesOf(evs)
	if own.listsChanged {
		s.reportMailboxChanges(own)
	}
	if own.subsChanged {
		s.reportSubscriptionChanges(own)
	}
	for _, ev := range evs {
		if ev.Origin == s.origin || s.ntf != n {
			continue
		}
		switch ev.Kind {
		case mailstore.MessagesAdded, mailstore.MessagesExpunged, mailstore.FlagsChanged:
			if s.sel != nil && s.sel.mailbox.ID == ev.MailboxID {
				continue // reported through the view, or at command ends
			}
			name, ok := n.boxes[ev.MailboxID]
			if !ok {
				continue // created meanwhile: MailboxesChanged comes first
			}
			want := evFlagChange
			switch ev.Kind {
			case mailstore.MessagesAdded:
				want = evMessageNew
			case mailstore.MessagesExpunged:
				want = evMessageExpunge
			}
			if g := s.groupFor(name); g != nil && g.events&want != 0 && !slices.Contains(statusOf, ev.MailboxID) {
				statusOf = append(statusOf, ev.MailboxID)
			}
		case mailstore.MetadataChanged:
			s.reportMetadataChange(ev)
		}
	}
	for _, id := range statusOf {
		if name, ok := n.boxes[id]; ok {
			s.writeNotifyStatus(&mailstore.Mailbox{ID: id, Name: name})
		}
	}
}

// ownChanges tells which mailbox and subscription changes of a batch the
// session made itself: it is not told of those (RFC 5465 §5).
type ownChanges struct {
	listsChanged, subsChanged bool
	// allBoxes and allSubs: every such change in the batch is the
	// session's own (the children of a mailbox it renamed too).
	allBoxes, allSubs      bool
	boxes, othersBoxes     map[int64]bool
	subs, othersSubs       map[string]bool
	othersUnnamedBoxChange bool // another's change that names no mailbox
}

// ownChangesOf sorts the mailbox and subscription changes of evs.
func (s *session) ownChangesOf(evs []mailstore.Event) *ownChanges {
	o := &ownChanges{allBoxes: true, allSubs: true, boxes: map[int64]bool{}, othersBoxes: map[int64]bool{},
		subs: map[string]bool{}, othersSubs: map[string]bool{}}
	for _, ev := range evs {
		mine := ev.Origin == s.origin
		switch ev.Kind {
		case mailstore.MailboxesChanged:
			o.listsChanged = true
			o.allBoxes = o.allBoxes && mine
			switch {
			case mine:
				o.boxes[ev.MailboxID] = true
			case ev.MailboxID == 0:
				o.othersUnnamedBoxChange = true
			default:
				o.othersBoxes[ev.MailboxID] = true
			}
		case mailstore.SubscriptionsChanged:
			o.subsChanged = true
			o.allSubs = o.allSubs && mine
			for _, name := range ev.Names {
				if mine {
					o.subs[name] = true
				} else {
					o.othersSubs[name] = true
				}
			}
		}
	}
	return o
}

// box reports whether the change of mailbox id is the session's own.
func (o *ownChanges) box(id int64) bool {
	return o.allBoxes || o.boxes[id] && !o.othersBoxes[id] && !o.othersUnnamedBoxChange
}

// sub reports whether the subscription change of name is the session's
// own.
func (o *ownChanges) sub(name string) bool {
	return o.allSubs || o.subs[name] && !o.othersSubs[name]
}

// writeNotifyStatus writes the STATUS a NOTIFY client gets for a mailbox
// (RFC 5465 §5.1, §5.2). Where FlagChange (or AnnotationChange) is asked
// for the mailbox it holds HIGHESTMODSEQ, whether or not the client enabled
// CONDSTORE: the server supports it (RFC 5465 §3).
func (s *session) writeNotifyStatus(mb *mailstore.Mailbox) {
	items := []string{"MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN"}
	if g := s.groupFor(mb.Name); s.condstore || g != nil && g.events&(evFlagChange|evAnnotationChange) != 0 {
		items = append(items, "HIGHESTMODSEQ")
	}
	if err := s.writeStatus(mb, items); err != nil {
		s.log.Debug("NOTIFY: no STATUS", "mailbox", mb.Name, "err", err)
	}
}

// reportMailboxChanges compares the mailbox list with the one the session
// knew and writes LIST responses for creations, deletions and renames
// (MailboxName, RFC 5465 §5.4), but for the session's own changes. A
// subscription change reported next compares with the subscription list
// the session knew so far: that one is left alone then.
func (s *session) reportMailboxChanges(own *ownChanges) {
	subsPending := own.subsChanged
	n := s.ntf
	boxes, err := s.acct.ListMailboxes(s.ctx)
	if err != nil {
		s.log.Warn("NOTIFY: list mailboxes", "err", err)
		return
	}
	now := make(map[int64]string, len(boxes))
	for _, mb := range boxes {
		now[mb.ID] = mb.Name
	}
	// A rename moves subscriptions along: the LIST responses tell.
	subsNow := n.subs
	if subs, err := s.acct.ListSubscriptions(s.ctx); err == nil {
		subsNow = make(map[string]bool, len(subs))
		for _, name := range subs {
			subsNow[name] = true
		}
	}
	// What the session knows of the subscriptions only follows the
	// renames here: a subscription made meanwhile, whose event may come
	// in a later batch, is reported by reportSubscriptionChanges then
	// (adopting the whole current list here would hide it).
	renamed := map[string]string{}
	defer func() {
		if subsPending || len(renamed) == 0 {
			return
		}
		carried := make(map[string]bool, len(n.subs))
		for name := range n.subs {
			if to, ok := renamed[name]; ok {
				if subsNow[to] {
					carried[to] = true
				}
				continue
			}
			carried[name] = true
		}
		n.subs = carried
	}()
	wants := func(id int64, names ...string) bool {
		if own.box(id) {
			return false
		}
		for _, name := range names {
			if g := s.groupFor(name); g != nil && g.events&evMailboxName != 0 {
				return true
			}
		}
		return false
	}
	oldBoxes := n.boxes
	n.boxes = now // for \HasChildren
	for _, mb := range boxes {
		old, known := oldBoxes[mb.ID]
		switch {
		case !known && wants(mb.ID, mb.Name):
			s.writeNotifyList(mb.Name, "", false, subsNow)
		case known && old != mb.Name && wants(mb.ID, mb.Name, old):
			s.writeNotifyList(mb.Name, old, false, subsNow)
		}
		if known && old != mb.Name {
			renamed[old] = mb.Name
		}
	}
	var gone []string
	for id, name := range oldBoxes {
		if _, ok := now[id]; !ok && wants(id, name) {
			gone = append(gone, name)
		}
	}
	slices.Sort(gone)
	for _, name := range gone {
		s.writeNotifyList(name, "", true, subsNow)
	}
}

// writeNotifyList writes an unsolicited LIST response: of a new or renamed
// (oldName) mailbox, or of one that no longer exists.
func (s *session) writeNotifyList(name, oldName string, gone bool, subs map[string]bool) {
	var attrs []string
	switch {
	case gone:
		attrs = append(attrs, `\NonExistent`)
	case s.hasChildren(name):
		attrs = append(attrs, `\HasChildren`)
	default:
		attrs = append(attrs, `\HasNoChildren`)
	}
	if subs[name] {
		attrs = append(attrs, `\Subscribed`)
	}
	s.w.s("* LIST ").flags(attrs).s(` "/" `).mailbox(name)
	if oldName != "" {
		s.w.s(` ("OLDNAME" (`).mailbox(oldName).s("))")
	}
	s.w.crlf()
}

// hasChildren reports whether a mailbox the session knows has children.
func (s *session) hasChildren(name string) bool {
	for _, n := range s.ntf.boxes {
		if strings.HasPrefix(n, name+delim) {
			return true
		}
	}
	return false
}

// reportSubscriptionChanges compares the subscription list with the one
// the session knew and writes a LIST response for each mailbox whose
// subscription changed (SubscriptionChange, RFC 5465 §5.5), but for the
// session's own changes.
func (s *session) reportSubscriptionChanges(own *ownChanges) {
	n := s.ntf
	subs, err := s.acct.ListSubscriptions(s.ctx)
	if err != nil {
		s.log.Warn("NOTIFY: list subscriptions", "err", err)
		return
	}
	now := make(map[string]bool, len(subs))
	for _, name := range subs {
		now[name] = true
	}
	var changed []string
	for name := range now {
		if !n.subs[name] {
			changed = append(changed, name)
		}
	}
	for name := range n.subs {
		if !now[name] {
			changed = append(changed, name)
		}
	}
	slices.Sort(changed)
	old := n.subs
	n.subs = now
	for _, name := range changed {
		if own.sub(name) {
			continue
		}
		id := s.mailboxIDOf(name)
		g := s.groupFor(name)
		if g == nil && old[name] {
			// Unsubscribed: the subscribed filter matched it before.
			saved := n.subs
			n.subs = old
			g = s.groupFor(name)
			n.subs = saved
		}
		if g == nil || g.events&evSubscriptionChange == 0 {
			continue
		}
		var attrs []string
		if id == 0 {
			attrs = append(attrs, `\NonExistent`)
		}
		if now[name] {
			attrs = append(attrs, `\Subscribed`)
		}
		s.w.s("* LIST ").flags(attrs).s(` "/" `).mailbox(name).crlf()
	}
}

// mailboxIDOf returns the ID of a mailbox the session knows by name, 0 if
// it does not exist.
func (s *session) mailboxIDOf(name string) int64 {
	for id, n := range s.ntf.boxes {
		if n == name {
			return id
		}
	}
	return 0
}

// reportMetadataChange writes an unsolicited METADATA response (RFC 5464
// §4.4.2) for a change of server or mailbox entries
// (ServerMetadataChange, MailboxMetadataChange, RFC 5465 §5.6, §5.7).
func (s *session) reportMetadataChange(ev mailstore.Event) {
	if len(ev.Names) == 0 {
		return
	}
	if ev.MailboxID == 0 {
		want := false
		for _, g := range s.ntf.spec.groups {
			want = want || g.events&evServerMetadataChange != 0
		}
		if !want {
			return
		}
		s.w.s(`* METADATA ""`)
	} else {
		name, ok := s.ntf.boxes[ev.MailboxID]
		if !ok {
			return
		}
		if g := s.groupFor(name); g == nil || g.events&evMailboxMetadataChange == 0 {
			return
		}
		s.w.s("* METADATA ").mailbox(name)
	}
	for _, e := range ev.Names {
		s.w.sp().str(e)
	}
	s.w.crlf()
}

// fetchNotified writes the FETCH responses NOTIFY asked for about new
// messages in the selected mailbox (MessageNew with fetch attributes),
// but for those the session added itself (own, RFC 5465 §5.2).
func (s *session) fetchNotified(uids, own []uint32, req *fetchRequest) {
	uids = slices.DeleteFunc(slices.Clone(uids), func(uid uint32) bool { return slices.Contains(own, uid) })
	if len(uids) == 0 {
		return
	}
	list, err := s.acct.ListMessages(s.ctx, s.sel.mailbox.ID, mailstore.UIDs(uids...))
	if err != nil {
		s.log.Warn("NOTIFY: list new messages", "err", err)
		return
	}
	for i := range list {
		m := &list[i]
		seq := s.sel.view.seqOf(m.UID)
		if seq == 0 {
			continue
		}
		r := *req
		r.uid = true // the client cannot tell the messages apart otherwise
		if err := s.fetchOne(seq, m, &r, false); err != nil {
			s.log.Debug("NOTIFY: fetch of a new message", "uid", m.UID, "err", err)
		}
	}
}
