package imapserver

import (
	"slices"
	"strings"

	"github.com/yubinmail/yubin/mailstore"
)

// listOptions are LIST's selection and return options (RFC 5258, RFC
// 5819, RFC 6154).
type listOptions struct {
	subscribed, specialUse, recursive  bool // selection
	retSubscribed, retChildren, retUse bool // return
	status                             []string
}

// cmdList runs LIST (with the LIST-EXTENDED syntax) and LSUB.
func (s *session) cmdList(c *command) error {
	if err := s.r.sp(); err != nil {
		return err
	}
	var o listOptions
	lsub := c.name == "LSUB"
	if !lsub && s.r.peek() == '(' {
		opts, err := s.r.optionList("a LIST selection option")
		if err != nil {
			return err
		}
		for _, opt := range opts {
			switch opt {
			case "SUBSCRIBED":
				o.subscribed = true
			case "SPECIAL-USE":
				o.specialUse = true
			case "RECURSIVEMATCH":
				o.recursive = true
			case "REMOTE":
			default:
				return badf("Unknown LIST selection option %s", opt)
			}
		}
		if o.recursive && !o.subscribed {
			return badf("RECURSIVEMATCH needs another selection option")
		}
		if err := s.r.sp(); err != nil {
			return err
		}
	}
	rawRef, err := s.r.astring("a reference name")
	if err != nil {
		return err
	}
	ref, err := s.decodeName(rawRef, true)
	if err != nil {
		return err
	}
	if err := s.r.sp(); err != nil {
		return err
	}
	var patterns []string
	if !lsub && s.r.accept('(') {
		for {
			p, err := s.r.listMailbox()
			if err != nil {
				return err
			}
			patterns = append(patterns, p)
			if s.r.accept(')') {
				break
			}
			if err := s.r.sp(); err != nil {
				return err
			}
			if len(patterns) >= 100 {
				return badf("Too many patterns")
			}
		}
	} else {
		p, err := s.r.listMailbox()
		if err != nil {
			return err
		}
		patterns = []string{p}
	}
	for i, p := range patterns {
		if patterns[i], err = s.decodeName(p, true); err != nil {
			return err
		}
	}
	if !lsub && s.r.accept(' ') {
		if err := s.listReturn(&o); err != nil {
			return err
		}
	}
	if err := s.r.end(); err != nil {
		return err
	}
	if o.subscribed {
		o.retSubscribed = true
	}
	if len(patterns) == 1 && patterns[0] == "" {
		// The hierarchy delimiter and root (RFC 9051 §6.3.9).
		s.w.s("* ").s(c.name).s(` (\Noselect) "/" ""`).crlf()
		return nil
	}
	boxes, err := s.acct.ListMailboxes(s.ctx)
	if err != nil {
		return s.storeErr("list", err, "NONEXISTENT")
	}
	subList, err := s.acct.ListSubscriptions(s.ctx)
	if err != nil {
		return s.storeErr("list", err, "NONEXISTENT")
	}
	subs := make(map[string]bool, len(subList))
	for _, n := range subList {
		subs[n] = true
	}
	exists := make(map[string]*mailstore.Mailbox, len(boxes))
	names := make([]string, 0, len(boxes)+len(subList))
	for i := range boxes {
		exists[boxes[i].Name] = &boxes[i]
		names = append(names, boxes[i].Name)
	}
	nodes := namespaceNodes(boxes)
	for n := range nodes {
		names = append(names, n)
	}
	if lsub {
		return s.writeLsub(subList, subs, ref, patterns)
	}
	if o.subscribed {
		for _, n := range subList {
			if exists[n] == nil {
				names = append(names, n)
			}
			if o.recursive {
				// Parents of subscribed mailboxes may match in their stead.
				parts := strings.Split(n, delim)
				for i := 1; i < len(parts); i++ {
					names = append(names, strings.Join(parts[:i], delim))
				}
			}
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == mailstore.Inbox:
			return -1
		case b == mailstore.Inbox:
			return 1
		}
		return strings.Compare(a, b)
	})
	names = slices.Compact(names)
	hasChildren := func(name string) bool {
		for n := range exists {
			if strings.HasPrefix(n, name+delim) {
				return true
			}
		}
		return false
	}
	subscribedChild := func(name string) bool {
		for n := range subs {
			if strings.HasPrefix(n, name+delim) {
				return true
			}
		}
		return false
	}
	for _, name := range names {
		mb := exists[name]
		if !matchAny(name, ref, patterns) {
			continue
		}
		childInfo := false
		switch {
		case o.subscribed && !subs[name]:
			if !o.recursive || !subscribedChild(name) {
				continue
			}
			childInfo = true
		case !o.subscribed && mb == nil && !nodes[name]:
			continue
		}
		if o.specialUse && (mb == nil || mb.SpecialUse == "") {
			continue
		}
		var attrs []string
		switch {
		case mb == nil && nodes[name]:
			attrs = append(attrs, `\Noselect`, `\HasChildren`)
		case mb == nil:
			attrs = append(attrs, `\NonExistent`)
		case hasChildren(name):
			attrs = append(attrs, `\HasChildren`)
		default:
			attrs = append(attrs, `\HasNoChildren`)
		}
		if subs[name] && o.retSubscribed {
			attrs = append(attrs, `\Subscribed`)
		}
		if mb != nil && mb.SpecialUse != "" { // RFC 6154 §2: always, not only on request
			attrs = append(attrs, mb.SpecialUse)
		}
		s.w.s("* LIST ").flags(attrs).s(` "/" `).mailbox(name)
		if childInfo {
			s.w.s(` ("CHILDINFO" ("SUBSCRIBED"))`)
		}
		s.w.crlf()
		if len(o.status) > 0 && mb != nil && s.mayRead(mb) {
			if err := s.writeStatus(mb, o.status); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeLsub answers LSUB (RFC 3501 §6.3.9): subscribed names that match,
// existing or not, and for "%" the parents of deeper subscribed ones,
// \Noselect if not subscribed themselves. Only "%" brings a parent: a
// deeper name is hidden by a "%" that cannot cross a level, not by a
// pattern that does not fit it ("*test" brings no parent of "a/test3").
func (s *session) writeLsub(subList []string, subs map[string]bool, ref string, patterns []string) error {
	seen := map[string]bool{}
	var widened []string // the patterns with "%" as "*"
	for _, p := range patterns {
		widened = append(widened, strings.ReplaceAll(p, "%", "*"))
	}
	for _, name := range subList {
		if matchAny(name, ref, patterns) {
			if !seen[name] {
				seen[name] = true
				s.w.s(`* LSUB () "/" `).mailbox(name).crlf()
			}
			continue
		}
		if !matchAny(name, ref, widened) {
			continue
		}
		parts := strings.Split(name, delim)
		for i := len(parts) - 1; i >= 1; i-- {
			parent := strings.Join(parts[:i], delim)
			if seen[parent] || !matchAny(parent, ref, patterns) {
				continue
			}
			seen[parent] = true
			attrs := `(\Noselect)`
			if subs[parent] {
				attrs = "()"
			}
			s.w.s("* LSUB ").s(attrs).s(` "/" `).mailbox(parent).crlf()
			break
		}
	}
	return nil
}

// listReturn reads "RETURN (" options ")".
func (s *session) listReturn(o *listOptions) error {
	kw, err := s.r.atom("RETURN")
	if err != nil || !strings.EqualFold(kw, "RETURN") {
		return badf("Expected RETURN options")
	}
	if err := s.r.sp(); err != nil {
		return err
	}
	if err := s.r.expect('(', "the RETURN options"); err != nil {
		return err
	}
	for first := true; !s.r.accept(')'); first = false {
		if !first {
			if err := s.r.sp(); err != nil {
				return err
			}
		}
		opt, err := s.r.atom("a RETURN option")
		if err != nil {
			return err
		}
		switch strings.ToUpper(opt) {
		case "SUBSCRIBED":
			o.retSubscribed = true
		case "CHILDREN":
			o.retChildren = true
		case "SPECIAL-USE":
			o.retUse = true
		case "STATUS":
			if err := s.r.sp(); err != nil {
				return err
			}
			if o.status, err = s.r.statusList(); err != nil {
				return err
			}
		default:
			return badf("Unknown LIST RETURN option %s", opt)
		}
	}
	return nil
}

// optionList reads "(" [atom *(SP atom)] ")" in upper case.
func (r *reader) optionList(what string) ([]string, error) {
	if err := r.expect('(', what); err != nil {
		return nil, err
	}
	var out []string
	for first := true; !r.accept(')'); first = false {
		if !first {
			if err := r.sp(); err != nil {
				return nil, err
			}
		}
		if len(out) >= 20 {
			return nil, badf("Too many options")
		}
		a, err := r.atom(what)
		if err != nil {
			return nil, err
		}
		out = append(out, strings.ToUpper(a))
	}
	return out, nil
}

// matchAny reports whether name matches one of the patterns after ref.
func matchAny(name, ref string, patterns []string) bool {
	for _, p := range patterns {
		full := p
		if !strings.HasPrefix(p, delim) {
			full = ref + p
		}
		// INBOX is case-insensitive, also as a parent.
		if len(full) >= len(mailstore.Inbox) && strings.EqualFold(full[:len(mailstore.Inbox)], mailstore.Inbox) &&
			(len(full) == len(mailstore.Inbox) || strings.HasPrefix(full[len(mailstore.Inbox):], delim)) {
			full = mailstore.Inbox + full[len(mailstore.Inbox):]
		}
		if matchPattern(name, full) {
			return true
		}
	}
	return false
}

// matchPattern matches a LIST pattern: "*" matches anything, "%" anything
// but the delimiter.
func matchPattern(name, pattern string) bool {
	// Iterative matching with backtracking on the last wildcard would be
	// wrong for "%"; recursion bounded by the pattern's wildcards is
	// fine: names and patterns are short and bounded by the line limit,
	// and a memo keeps it polynomial.
	if len(pattern) > 2*len(name)+1000 {
		return false
	}
	memo := map[[2]int]bool{}
	var match func(i, j int) bool
	match = func(i, j int) bool {
		key := [2]int{i, j}
		if v, ok := memo[key]; ok {
			return v
		}
		var res bool
		switch {
		case j == len(pattern):
			res = i == len(name)
		case pattern[j] == '*':
			res = match(i, j+1) || i < len(name) && match(i+1, j)
		case pattern[j] == '%':
			res = match(i, j+1) || i < len(name) && name[i] != mailstore.Delimiter && match(i+1, j)
		default:
			res = i < len(name) && name[i] == pattern[j] && match(i+1, j+1)
		}
		memo[key] = res
		return res
	}
	return match(0, 0)
}
