package sieve

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrLimit is wrapped by runtime errors caused by a limit of the run
// (steps, actions, redirects, variable memory).
var ErrLimit = errors.New("sieve: limit exceeded")

// RuntimeError is an error of a running script. Run returns it, wrapped
// with the position of the command that failed.
type RuntimeError struct {
	Pos Pos
	Err error
}

// Error formats the error as "line L, column C: cause".
func (e *RuntimeError) Error() string {
	return fmt.Sprintf("line %d, column %d: %v", e.Pos.Line, e.Pos.Column, e.Err)
}

// Unwrap returns the cause, for errors.Is (ErrLimit, context errors).
func (e *RuntimeError) Unwrap() error { return e.Err }

// stepper counts the work of a run.
type stepper struct {
	ctx  context.Context
	left int
	n    int
}

func (s *stepper) charge(n int) error {
	s.left -= n
	if s.left < 0 {
		return fmt.Errorf("%w: script ran for too many steps", ErrLimit)
	}
	if s.n += n; s.n >= 4096 {
		s.n = 0
		if err := s.ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// errStop unwinds the run at a stop command.
var errStop = errors.New("stop")

// run is the state of one execution of a script.
type run struct {
	ctx    context.Context
	script *Script
	msg    *Message
	env    Environment
	opts   RunOptions
	lim    Limits
	steps  *stepper

	hdr       *header
	body      *bodyCache
	vars      map[string]string
	varBytes  int
	matchVars []string
	flags     []string // the imap4flags internal variable

	actions      []Action
	implicitKeep bool
	redirects    int
	rejectPos    Pos
	notes        []string
}

// Run executes the script against msg and returns the actions to take.
//
// Run performs no I/O but through env, and it never changes msg. On error
// (a runtime error, a limit, or a cancelled ctx) the caller must behave as
// if the script had said only "keep": store the message into INBOX and log
// the error, which names the line and column that failed. The message is
// never lost because of a script.
func (s *Script) Run(ctx context.Context, msg *Message, env Environment, opts RunOptions) (*Result, error) {
	return RunAll(ctx, []*Script{s}, msg, env, opts)
}

// RunAll runs several scripts one after the other as one filtering pass,
// for a domain's policy script followed by the user's own script. The
// scripts share the actions, the implicit keep, the imap4flags flags and
// the limits (one budget for all); each has its own variables. A "stop"
// ends the whole pass, so a policy script can have the last word. Errors
// follow the contract of Run: on any error no action is taken and the
// message goes to INBOX. Nil scripts are skipped.
func RunAll(ctx context.Context, scripts []*Script, msg *Message, env Environment, opts RunOptions) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	lim := opts.Limits.withDefaults()
	r := &run{
		ctx: ctx, msg: msg, env: env, opts: opts, lim: lim,
		steps:        &stepper{ctx: ctx, left: lim.MaxSteps},
		hdr:          newHeader(msg.Header, msg.Junk),
		body:         &bodyCache{msg: msg, max: lim.MaxBodyBytes},
		implicitKeep: true,
	}
	for i, s := range scripts {
		if s == nil {
			continue
		}
		r.script, r.vars, r.varBytes, r.matchVars = s, map[string]string{}, 0, nil
		err := r.block(s.cmds)
		if errors.Is(err, errStop) {
			break
		}
		if err != nil {
			if len(scripts) > 1 {
				return nil, fmt.Errorf("script %d of %d: %w", i+1, len(scripts), err)
			}
			return nil, err
		}
	}
	if err := r.checkCompatible(); err != nil {
		return nil, err
	}
	if r.implicitKeep {
		r.actions = addImplicitKeep(r.actions, r.flags)
	}
	return &Result{Actions: r.actions, Notes: r.notes}, nil
}

// addImplicitKeep appends the implicit keep, or merges it into a keep the
// script already made (fileinto :copy "INBOX").
func addImplicitKeep(actions []Action, flags []string) []Action {
	for i := range actions {
		if actions[i].Kind == ActionKeep {
			actions[i].Flags = mergeFlags(actions[i].Flags, flags)
			return actions
		}
	}
	return append(actions, Action{Kind: ActionKeep, Implicit: true, Flags: cloneFlags(flags)})
}

func (r *run) fail(p Pos, err error) error {
	var re *RuntimeError
	if errors.As(err, &re) || errors.Is(err, errStop) {
		return err
	}
	return &RuntimeError{Pos: p, Err: err}
}

func (r *run) block(cmds []*node) error {
	for _, c := range cmds {
		if err := r.steps.charge(1); err != nil {
			return r.fail(c.pos, err)
		}
		if err := r.command(c); err != nil {
			return r.fail(c.pos, err)
		}
	}
	return nil
}

// command executes one command.
func (r *run) command(c *node) error {
	switch c.name {
	case "if":
		for _, b := range c.branches {
			ok := true
			if b.cond != nil {
				var err error
				if ok, err = r.test(b.cond); err != nil {
					return err
				}
			}
			if ok {
				return r.block(b.block)
			}
		}
		return nil
	case "stop":
		return errStop
	case "keep":
		flags, err := r.actionFlags(c)
		if err != nil {
			return err
		}
		r.implicitKeep = false
		return r.addAction(Action{Kind: ActionKeep, Flags: flags})
	case "discard":
		r.implicitKeep = false
		return r.addAction(Action{Kind: ActionDiscard})
	case "fileinto":
		mailbox, err := r.str(c.args[0].strs[0])
		if err != nil {
			return err
		}
		if mailbox == "" {
			return errors.New("fileinto: empty mailbox name")
		}
		flags, err := r.actionFlags(c)
		if err != nil {
			return err
		}
		if !c.has("copy") {
			r.implicitKeep = false
		}
		return r.addAction(Action{Kind: ActionFileInto, Mailbox: mailbox, Create: c.has("create"), Flags: flags, Copy: c.has("copy")})
	case "redirect":
		target, err := r.str(c.args[0].strs[0])
		if err != nil {
			return err
		}
		addr, err := parseRedirectAddress(target)
		if err != nil {
			return fmt.Errorf("redirect: %w", err)
		}
		if r.isOwnAddress(addr, nil) {
			// Redirecting to oneself would deliver the message again and
			// again; store it here instead.
			r.notes = append(r.notes, "redirect: "+addr+" is the user's own address; kept instead")
			if c.has("copy") {
				return nil
			}
			r.implicitKeep = false
			return r.addAction(Action{Kind: ActionKeep, Flags: cloneFlags(r.flags)})
		}
		if !c.has("copy") {
			r.implicitKeep = false
		}
		return r.addAction(Action{Kind: ActionRedirect, Address: addr, Copy: c.has("copy")})
	case "reject", "ereject":
		reason, err := r.str(c.args[0].strs[0])
		if err != nil {
			return err
		}
		r.implicitKeep = false
		r.rejectPos = c.pos
		return r.addAction(Action{Kind: ActionReject, Reason: reason, Extended: c.name == "ereject"})
	case "setflag", "addflag", "removeflag":
		return r.flagCommand(c)
	case "set":
		return r.set(c)
	case "vacation":
		return r.vacation(c)
	}
	return fmt.Errorf("unknown command %q", c.name)
}

// addAction records an action, dropping duplicates (RFC 5228 section
// 2.10.3) and enforcing the action and redirect limits.
func (r *run) addAction(a Action) error {
	if a.Kind == ActionFileInto && isInbox(a.Mailbox) && !r.msg.Junk {
		// fileinto "INBOX" and keep store the same copy (RFC 5228
		// section 2.10.3): record it as a keep.
		a = Action{Kind: ActionKeep, Flags: a.Flags}
	}
	for i := range r.actions {
		o := &r.actions[i]
		if o.Kind != a.Kind {
			continue
		}
		same := false
		switch a.Kind {
		case ActionKeep, ActionDiscard:
			same = true
		case ActionFileInto:
			same = o.Mailbox == a.Mailbox || isInbox(o.Mailbox) && isInbox(a.Mailbox)
		case ActionRedirect:
			same = strings.EqualFold(o.Address, a.Address)
		}
		if same {
			o.Flags = mergeFlags(o.Flags, a.Flags)
			o.Copy = o.Copy && a.Copy
			o.Create = o.Create || a.Create
			return nil
		}
		if a.Kind == ActionReject {
			return errors.New("reject: the message was already rejected")
		}
		if a.Kind == ActionVacation {
			return errors.New("vacation: only one vacation action per run")
		}
	}
	if len(r.actions) >= r.lim.MaxActions {
		return fmt.Errorf("%w: more than %d actions", ErrLimit, r.lim.MaxActions)
	}
	if a.Kind == ActionRedirect {
		if r.redirects >= r.lim.MaxRedirects {
			return fmt.Errorf("%w: more than %d redirects", ErrLimit, r.lim.MaxRedirects)
		}
		r.redirects++
	}
	r.actions = append(r.actions, a)
	return nil
}

// checkCompatible rejects combinations of actions that cannot all be
// done: reject with a delivery, a redirect or a vacation reply (RFC 5429
// section 2, RFC 5230 section 4.7).
func (r *run) checkCompatible() error {
	rejected := false
	for _, a := range r.actions {
		if a.Kind == ActionReject {
			rejected = true
		}
	}
	if !rejected {
		return nil
	}
	for _, a := range r.actions {
		switch a.Kind {
		case ActionKeep, ActionFileInto, ActionVacation, ActionRedirect:
			return &RuntimeError{Pos: r.rejectPos, Err: fmt.Errorf("reject cannot be combined with %s", a.Kind)}
		}
	}
	return nil
}

// test evaluates a test.
func (r *run) test(t *node) (bool, error) {
	if err := r.steps.charge(1); err != nil {
		return false, r.fail(t.pos, err)
	}
	ok, err := r.evalTest(t)
	if err != nil {
		return false, r.fail(t.pos, err)
	}
	return ok, nil
}

func (r *run) evalTest(t *node) (bool, error) {
	switch t.name {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "not":
		ok, err := r.test(t.tests[0])
		return !ok, err
	case "anyof", "allof":
		want := t.name == "anyof"
		for _, sub := range t.tests {
			ok, err := r.test(sub)
			if err != nil || ok == want {
				return want, err
			}
		}
		return !want, nil
	case "size":
		limit := int64(t.args[0].num)
		if t.has("over") {
			return r.msg.Size > limit, nil
		}
		return r.msg.Size < limit, nil
	case "exists":
		names, err := r.strs(t.args[0].strs)
		if err != nil {
			return false, err
		}
		for _, n := range names {
			if len(r.hdr.values(n)) == 0 {
				return false, nil
			}
		}
		return true, nil
	case "header":
		return r.headerTest(t)
	case "address":
		return r.addressTest(t)
	case "envelope":
		return r.envelopeTest(t)
	case "body":
		return r.bodyTest(t)
	case "string":
		return r.stringTest(t)
	case "hasflag":
		return r.hasflagTest(t)
	case "date", "currentdate":
		return r.dateTest(t)
	case "mailboxexists":
		names, err := r.strs(t.args[0].strs)
		if err != nil {
			return false, err
		}
		for _, n := range names {
			ok, err := r.env.MailboxExists(r.ctx, n)
			if err != nil {
				return false, fmt.Errorf("mailboxexists: %w", err)
			}
			if !ok {
				return false, nil
			}
		}
		return true, nil
	}
	return false, fmt.Errorf("unknown test %q", t.name)
}

// matchValues applies t's match type and comparator to values and the
// keys in the test's last argument. For :count the values are counted.
func (r *run) matchValues(t *node, values []string, keysArg arg) (bool, error) {
	keys, err := r.strs(keysArg.strs)
	if err != nil {
		return false, err
	}
	return r.matchKeys(t, values, keys)
}

// matchKeys is matchValues with keys already expanded.
func (r *run) matchKeys(t *node, values, keys []string) (bool, error) {
	if err := r.steps.charge(len(values)); err != nil {
		return false, err
	}
	m := &matcher{comparator: t.comparator, match: t.match, relation: t.relation, steps: r.steps}
	if t.match == "count" {
		return m.matchCount(len(values), keys), nil
	}
	for _, v := range values {
		for _, k := range keys {
			ok, vars, err := m.matchOne(v, k)
			if err != nil {
				return false, err
			}
			if ok {
				if t.match == "matches" && r.script.requires[extVariables] {
					r.matchVars = vars
				}
				return true, nil
			}
		}
	}
	return false, nil
}

// selectIndex applies :index and :last (RFC 5260 section 6) to values.
func selectIndex(t *node, values []string) []string {
	a, ok := t.tags["index"]
	if !ok {
		return values
	}
	i := int(min(a.num, uint64(len(values)+1)))
	if i > len(values) {
		return nil
	}
	if t.has("last") {
		return values[len(values)-i : len(values)-i+1]
	}
	return values[i-1 : i]
}

func (r *run) headerTest(t *node) (bool, error) {
	names, err := r.strs(t.args[0].strs)
	if err != nil {
		return false, err
	}
	var values []string
	for _, n := range names {
		values = append(values, selectIndex(t, r.hdr.decodedValues(n))...)
	}
	return r.matchValues(t, values, t.args[1])
}

func (r *run) addressTest(t *node) (bool, error) {
	names, err := r.strs(t.args[0].strs)
	if err != nil {
		return false, err
	}
	var values []string
	for _, n := range names {
		for _, v := range selectIndex(t, r.hdr.values(n)) {
			if err := r.steps.charge(1 + len(v)/64); err != nil {
				return false, err
			}
			for _, a := range parseAddressList(v) {
				if part, ok := r.addressPart(t.addressPart, a); ok {
					values = append(values, part)
				}
			}
		}
	}
	return r.matchValues(t, values, t.args[1])
}

func (r *run) envelopeTest(t *node) (bool, error) {
	parts, err := r.strs(t.args[0].strs)
	if err != nil {
		return false, err
	}
	var values []string
	for _, p := range parts {
		var addr string
		switch strings.ToLower(p) {
		case "from":
			addr = r.msg.EnvelopeFrom
		case "to":
			addr = r.msg.EnvelopeTo
		default:
			continue
		}
		addr = strings.Trim(strings.TrimSpace(addr), "<>")
		if addr == "" && strings.EqualFold(p, "to") {
			continue // a null forward path matches nothing
		}
		if addr == "" {
			// RFC 5228 section 5.4: the null reverse-path is the empty
			// string whatever the address part.
			values = append(values, "")
			continue
		}
		if part, ok := r.addressPart(t.addressPart, mailAddress{addr: addr, valid: true}); ok {
			values = append(values, part)
		}
	}
	return r.matchValues(t, values, t.args[1])
}

func (r *run) stringTest(t *node) (bool, error) {
	values, err := r.strs(t.args[0].strs)
	if err != nil {
		return false, err
	}
	if t.match == "count" {
		// RFC 5229 section 5: :count counts the non-empty strings.
		var nonEmpty []string
		for _, v := range values {
			if v != "" {
				nonEmpty = append(nonEmpty, v)
			}
		}
		values = nonEmpty
	}
	return r.matchValues(t, values, t.args[1])
}

// str expands variables in s (RFC 5229 section 3) when the script
// requires "variables".
func (r *run) str(s string) (string, error) {
	if !r.script.requires[extVariables] || !strings.Contains(s, "${") {
		return s, nil
	}
	if err := r.steps.charge(1 + len(s)/64); err != nil {
		return "", err
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		// A reference is "${" identifier-or-number "}"; scanning only
		// the name keeps this linear in the length of s.
		end := i + 2
		for end < len(s) && (isAlpha(s[end]) || isDigit(s[end]) || s[end] == '_') {
			end++
		}
		name := s[i+2 : end]
		if end >= len(s) || s[end] != '}' || !validVariableName(name, true) {
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(r.variable(name))
		s = s[end+1:]
		if b.Len() > r.lim.MaxStringBytes {
			return "", fmt.Errorf("%w: expanded string longer than %d bytes", ErrLimit, r.lim.MaxStringBytes)
		}
	}
	if b.Len() > r.lim.MaxStringBytes {
		return "", fmt.Errorf("%w: expanded string longer than %d bytes", ErrLimit, r.lim.MaxStringBytes)
	}
	return b.String(), nil
}

// strs expands variables in each string.
func (r *run) strs(in []string) ([]string, error) {
	if !r.script.requires[extVariables] {
		return in, nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		v, err := r.str(s)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// variable returns the value of a variable or match variable ("" if
// unset).
func (r *run) variable(name string) string {
	if isDigit(name[0]) {
		n, err := strconv.Atoi(name)
		if err != nil || n >= len(r.matchVars) {
			return ""
		}
		return r.matchVars[n]
	}
	return r.vars[strings.ToLower(name)]
}

// setVariable stores a variable, enforcing the memory bound.
func (r *run) setVariable(name, value string) error {
	name = strings.ToLower(name)
	old, had := r.vars[name]
	size := r.varBytes - len(old) + len(value)
	if !had {
		size += len(name)
	}
	if size > r.lim.MaxVariableBytes {
		return fmt.Errorf("%w: variables hold more than %d bytes", ErrLimit, r.lim.MaxVariableBytes)
	}
	r.varBytes = size
	r.vars[name] = value
	return nil
}

// isInbox reports whether a mailbox name is INBOX, which IMAP names
// without regard to case.
func isInbox(name string) bool { return strings.EqualFold(name, "INBOX") }
