package sieve

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// node is a validated command or test.
type node struct {
	pos   Pos
	name  string
	tags  map[string]arg // tag name -> the tag (kind argTag) or its value
	args  []arg          // positional arguments
	tests []*node
	block []*node
	// branches holds an if command with its elsif and else parts.
	branches []branch

	match       string // "is", "contains", "matches", "count" or "value"
	relation    string // for "count" and "value"
	comparator  string
	addressPart string // "all", "localpart", "domain", "user" or "detail"
}

// branch is one arm of an if/elsif/else chain; cond is nil for else.
type branch struct {
	cond  *node
	block []*node
}

// has reports whether n was given tag t.
func (n *node) has(t string) bool {
	_, ok := n.tags[t]
	return ok
}

// validator turns raw nodes into nodes, checking them against the specs.
type validator struct {
	specs    map[string]*spec
	requires map[string]bool
}

// isRelation reports whether s is a relational operator (RFC 5231).
func isRelation(s string) bool {
	switch s {
	case "gt", "ge", "lt", "le", "eq", "ne":
		return true
	}
	return false
}

// isDatePart reports whether s is a date part (RFC 5260 section 4.2).
func isDatePart(s string) bool {
	switch s {
	case "year", "month", "day", "date", "julian", "hour", "minute", "second",
		"time", "iso8601", "std11", "zone", "weekday":
		return true
	}
	return false
}

// compile validates a parsed script.
func compile(raw []*rawNode) ([]*node, map[string]bool, error) {
	v := &validator{specs: specs(), requires: map[string]bool{}}
	i := 0
	for ; i < len(raw) && raw[i].name == "require"; i++ {
		n, err := v.node(raw[i], false)
		if err != nil {
			return nil, nil, err
		}
		for _, name := range n.args[0].strs {
			name = strings.ToLower(name)
			if !knownExtension(name) {
				return nil, nil, errorf(n.args[0].pos, "unsupported extension %q", name)
			}
			v.requires[name] = true
		}
	}
	cmds, err := v.commands(raw[i:])
	if err != nil {
		return nil, nil, err
	}
	return cmds, v.requires, nil
}

// commands validates a command sequence, folding if/elsif/else chains.
func (v *validator) commands(raw []*rawNode) ([]*node, error) {
	var out []*node
	var chain *node // the if command an elsif or else may continue
	for _, r := range raw {
		if r.name == "require" {
			return nil, errorf(r.pos, "\"require\" must come before any other command")
		}
		n, err := v.node(r, false)
		if err != nil {
			return nil, err
		}
		switch r.name {
		case "if":
			n.branches = []branch{{cond: n.tests[0], block: n.block}}
			n.tests, n.block = nil, nil
			chain = n
			out = append(out, n)
			continue
		case "elsif", "else":
			if chain == nil {
				return nil, errorf(r.pos, "%q without a preceding \"if\"", r.name)
			}
			var cond *node
			if r.name == "elsif" {
				cond = n.tests[0]
			}
			chain.branches = append(chain.branches, branch{cond: cond, block: n.block})
			if r.name == "else" {
				chain = nil
			}
			continue
		}
		chain = nil
		out = append(out, n)
	}
	return out, nil
}

// node validates one command (or, with asTest, one test).
func (v *validator) node(r *rawNode, asTest bool) (*node, error) {
	sp, ok := v.specs[r.name]
	kind := "command"
	if asTest {
		kind = "test"
	}
	if !ok || sp.test != asTest {
		if ok && sp.test {
			return nil, errorf(r.pos, "%q is a test, not a command", r.name)
		}
		if ok {
			return nil, errorf(r.pos, "%q is a command, not a test", r.name)
		}
		return nil, errorf(r.pos, "unknown %s %q", kind, r.name)
	}
	if sp.ext != "" && !v.requires[sp.ext] {
		return nil, errorf(r.pos, "%s %q needs require %q", kind, r.name, sp.ext)
	}
	n := &node{pos: r.pos, name: r.name, tags: map[string]arg{}}
	groups := map[string]string{}
	args := r.args
	for len(args) > 0 && args[0].kind == argTag {
		t := args[0]
		args = args[1:]
		ts, ok := sp.tags[t.tag]
		if !ok {
			return nil, errorf(t.pos, "unknown tag \":%s\" for %q", t.tag, r.name)
		}
		if ts.ext != "" && !v.requires[ts.ext] {
			return nil, errorf(t.pos, "tag \":%s\" needs require %q", t.tag, ts.ext)
		}
		if _, dup := n.tags[t.tag]; dup {
			return nil, errorf(t.pos, "tag \":%s\" given twice", t.tag)
		}
		if ts.group != "" {
			if other, dup := groups[ts.group]; dup {
				return nil, errorf(t.pos, "tags \":%s\" and \":%s\" exclude each other (one %s only)", other, t.tag, ts.group)
			}
			groups[ts.group] = t.tag
		}
		val := t
		if ts.value != vNone {
			if len(args) == 0 || !fits(args[0], ts.value) {
				return nil, errorf(t.pos, "tag \":%s\" needs %s after it", t.tag, ts.value)
			}
			val = args[0]
			args = args[1:]
		}
		n.tags[t.tag] = val
	}
	for _, a := range args {
		if a.kind == argTag {
			return nil, errorf(a.pos, "tag \":%s\" must come before the positional arguments of %q", a.tag, r.name)
		}
	}
	need := len(sp.positional)
	if len(args) < need-sp.optional || len(args) > need {
		return nil, errorf(r.pos, "%q takes %s, got %d", r.name, countArgs(need-sp.optional, need), len(args))
	}
	types := sp.positional[need-len(args):]
	for i, a := range args {
		if !fits(a, types[i]) {
			return nil, errorf(a.pos, "argument %d of %q must be %s, not a %s", i+1, r.name, types[i], a.kind)
		}
	}
	n.args = args
	if err := v.decodeStrings(n); err != nil {
		return nil, err
	}
	switch sp.tests {
	case noTest:
		if len(r.tests) > 0 {
			return nil, errorf(r.tests[0].pos, "%q takes no test", r.name)
		}
	case oneTest:
		if len(r.tests) != 1 || r.testList {
			return nil, errorf(r.pos, "%q takes exactly one test (not a list in parentheses)", r.name)
		}
	case testList:
		if !r.testList {
			return nil, errorf(r.pos, "%q takes a list of tests in parentheses", r.name)
		}
	}
	for _, t := range r.tests {
		tn, err := v.node(t, true)
		if err != nil {
			return nil, err
		}
		n.tests = append(n.tests, tn)
	}
	if sp.block != r.hasBlock {
		if sp.block {
			return nil, errorf(r.pos, "%q needs a block", r.name)
		}
		return nil, errorf(r.pos, "%q takes no block (missing \";\"?)", r.name)
	}
	if r.hasBlock {
		block, err := v.commands(r.block)
		if err != nil {
			return nil, err
		}
		n.block = block
	}
	return n, v.check(n, sp)
}

func countArgs(min, max int) string {
	if min == max {
		return strconv.Itoa(max) + " positional argument(s)"
	}
	return strconv.Itoa(min) + " or " + strconv.Itoa(max) + " positional arguments"
}

// fits reports whether a can stand where t is expected.
func fits(a arg, t valueType) bool {
	switch t {
	case vString:
		return a.kind == argString
	case vStringList:
		return a.kind == argString || a.kind == argStringList
	case vNumber:
		return a.kind == argNumber
	}
	return false
}

// decodeStrings applies the encoded-character extension (RFC 5228 section
// 2.4.2.4) to every string argument of n.
func (v *validator) decodeStrings(n *node) error {
	if !v.requires[extEncodedChar] {
		return nil
	}
	fix := func(a *arg) error {
		for i, s := range a.strs {
			d, err := decodeEncodedChars(s)
			if err != nil {
				return errorf(a.pos, "%v", err)
			}
			a.strs[i] = d
		}
		return nil
	}
	for i := range n.args {
		if err := fix(&n.args[i]); err != nil {
			return err
		}
	}
	for k, a := range n.tags {
		if err := fix(&a); err != nil {
			return err
		}
		n.tags[k] = a
	}
	return nil
}

// check applies the rules specific to each command and test.
func (v *validator) check(n *node, sp *spec) error {
	n.match, n.comparator, n.addressPart = "is", comparatorASCII, "all"
	for _, m := range []string{"is", "contains", "matches", "count", "value"} {
		if a, ok := n.tags[m]; ok {
			n.match = m
			if m == "count" || m == "value" {
				n.relation = strings.ToLower(a.strs[0])
				if !isRelation(n.relation) {
					return errorf(a.pos, "relational match %q is not one of gt, ge, lt, le, eq, ne", a.strs[0])
				}
			}
		}
	}
	if a, ok := n.tags["comparator"]; ok {
		c := strings.ToLower(a.strs[0])
		switch c {
		case comparatorOctet, comparatorASCII:
		case comparatorUni, comparatorNum:
			if !v.requires["comparator-"+c] {
				return errorf(a.pos, "comparator %q needs require \"comparator-%s\"", c, c)
			}
		default:
			return errorf(a.pos, "unknown comparator %q", a.strs[0])
		}
		n.comparator = c
		if c == comparatorNum && (n.match == "contains" || n.match == "matches") {
			return errorf(a.pos, "comparator %q supports only :is, :value and :count", c)
		}
	}
	for _, p := range []string{"localpart", "domain", "all", "user", "detail"} {
		if n.has(p) {
			n.addressPart = p
		}
	}
	if n.has("last") && !n.has("index") {
		return errorf(n.tags["last"].pos, "\":last\" needs \":index\"")
	}
	if a, ok := n.tags["index"]; ok && a.num == 0 {
		return errorf(a.pos, "\":index\" counts from 1")
	}
	variables := v.requires[extVariables]
	constant := func(s string) bool { return !(variables && strings.Contains(s, "${")) }
	switch n.name {
	case "header", "address", "exists":
		for _, h := range n.args[0].strs {
			if constant(h) && !validFieldName(h) {
				return errorf(n.args[0].pos, "%q is not a header field name", h)
			}
		}
	case "envelope":
		for _, p := range n.args[0].strs {
			if l := strings.ToLower(p); constant(p) && l != "from" && l != "to" {
				return errorf(n.args[0].pos, "envelope part %q is not \"from\" or \"to\"", p)
			}
		}
	case "size":
		if !n.has("over") && !n.has("under") {
			return errorf(n.pos, "\"size\" needs \":over\" or \":under\"")
		}
	case "set":
		if !validVariableName(n.args[0].strs[0], false) {
			return errorf(n.args[0].pos, "invalid variable name %q", n.args[0].strs[0])
		}
	case "setflag", "addflag", "removeflag", "hasflag":
		if len(n.args) == 2 {
			if !variables {
				return errorf(n.args[0].pos, "%q with a variable name needs require \"variables\"", n.name)
			}
			for _, name := range n.args[0].strs {
				if !validVariableName(name, false) {
					return errorf(n.args[0].pos, "invalid variable name %q", name)
				}
			}
		}
	case "date", "currentdate":
		part := n.args[len(n.args)-2]
		p := strings.ToLower(part.strs[0])
		if !isDatePart(p) && !(variables && strings.Contains(p, "${")) {
			return errorf(part.pos, "unknown date part %q", part.strs[0])
		}
		if z, ok := n.tags["zone"]; ok && !(variables && strings.Contains(z.strs[0], "${")) {
			if _, ok := parseZone(z.strs[0]); !ok {
				return errorf(z.pos, "time zone %q is not of the form +hhmm or -hhmm", z.strs[0])
			}
		}
	case "vacation":
		if a, ok := n.tags["days"]; ok && a.num > 3650 {
			return errorf(a.pos, "\":days\" %d is more than 3650", a.num)
		}
	case "redirect":
		if a := n.args[0]; !(variables && strings.Contains(a.strs[0], "${")) {
			if _, err := parseRedirectAddress(a.strs[0]); err != nil {
				return errorf(a.pos, "redirect: %v", err)
			}
		}
	case "fileinto":
		if a := n.args[0]; a.strs[0] == "" || !utf8.ValidString(a.strs[0]) {
			return errorf(a.pos, "fileinto needs a mailbox name in UTF-8")
		}
	}
	return nil
}

// validFieldName reports whether s is a header field name (RFC 5322
// section 3.6.8: printable ASCII but the colon).
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}

// validVariableName reports whether s is a variable name (RFC 5229 section
// 3): an identifier; match variables (digits) are allowed only with
// matchVars. Namespaced names ("a.b") belong to extensions not implemented.
func validVariableName(s string, matchVars bool) bool {
	if s == "" {
		return false
	}
	if isDigit(s[0]) {
		if !matchVars {
			return false
		}
		for i := 0; i < len(s); i++ {
			if !isDigit(s[i]) {
				return false
			}
		}
		return true
	}
	if !(isAlpha(s[0]) || s[0] == '_') {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(isAlpha(c) || isDigit(c) || c == '_') {
			return false
		}
	}
	return true
}
