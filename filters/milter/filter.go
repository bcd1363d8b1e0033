// Package milter runs messages through an external milter (the sendmail
// mail filter protocol, as spoken by OpenDKIM, rspamd's proxy, clamav-milter
// and many others) as a filters.Filter.
package milter

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	gomilter "github.com/emersion/go-milter"

	"github.com/yubinmail/yubin/filters"
)

// DefaultTimeout bounds a whole milter session when Filter.Timeout is 0.
const DefaultTimeout = 60 * time.Second

// offeredActions are the modifications we let milters ask for (protocol
// version 6): every one we apply. A libmilter milter whose registered
// flags are not all offered drops the connection at negotiation, so we
// offer all we can: header additions, insertions and changes, body
// replacement, recipient additions and removals, sender changes,
// quarantine, and macro lists (which we accept and ignore: we send the
// macros we have).
const offeredActions = gomilter.OptAddHeader | gomilter.OptChangeBody |
	gomilter.OptAddRcpt | gomilter.OptRemoveRcpt | gomilter.OptChangeHeader |
	gomilter.OptQuarantine | gomilter.OptChangeFrom | gomilter.OptSetSymList

// offeredSteps are the protocol steps a milter may decline (SMFIP_NO*: we
// do not send that step) or answer without a reply (SMFIP_NR_*). What the
// milter asks for among them is honoured. We never send DATA or unknown
// commands, so declining them is free.
const offeredSteps = gomilter.OptNoConnect | gomilter.OptNoHelo | gomilter.OptNoMailFrom |
	gomilter.OptNoRcptTo | gomilter.OptNoBody | gomilter.OptNoHeaders | gomilter.OptNoEOH |
	gomilter.OptNoUnknown | gomilter.OptNoData | gomilter.OptNoHeaderReply |
	gomilter.OptNoConnReply | gomilter.OptNoHeloReply | gomilter.OptNoMailReply |
	gomilter.OptNoRcptReply | gomilter.OptNoDataReply | gomilter.OptNoUnknownReply |
	gomilter.OptNoEOHReply | gomilter.OptNoBodyReply

// Protocol version 2 subsets, offered again to a milter that answers with
// a version below 6 (only these existed then).
const (
	offeredActionsV2 = offeredActions & 0x3f
	offeredStepsV2   = offeredSteps & 0x7f
)

// maxHeaderBytes bounds the header sent to the milter as header fields
// (the MTA refuses larger headers).
const maxHeaderBytes = 1 << 20

// Filter is a filters.Filter that opens a milter session for each message
// and sends it the connection, HELO, envelope, header and body, then maps
// the milter's decision to a verdict:
//
//   - accept and continue accept the message;
//   - reject rejects it (550 5.7.1, or the milter's own 5xx reply);
//   - tempfail defers it (451 4.7.1, or the milter's own 4xx reply);
//   - discard and quarantine quarantine it: a message is never dropped
//     silently;
//   - header additions become AddHeaders (on top of the message); header
//     insertions and changes, body replacement, recipient additions and
//     removals and a changed sender become the verdict's Rewrite, which
//     the MTA applies (filters.ApplyRewrite), each recorded as evidence.
//
// The session offers protocol version 6 with every action above and every
// protocol step a milter may decline or answer silently (SMFIP_NO*,
// SMFIP_NR_*); the steps the milter declines are not sent. A milter that
// answers with an older version is offered the version 2 subset.
//
// A milter rejecting single recipients does not reject the message unless
// it rejects all of them. When the milter cannot be reached or fails, Check
// returns the error and the stage's failure policy decides.
type Filter struct {
	// Addr is where the milter listens: "host:port" for TCP, or
	// "unix:/path" (or an absolute path) for a Unix socket.
	Addr string
	// Timeout bounds a whole session, on top of the context's deadline;
	// 0 means DefaultTimeout.
	Timeout time.Duration
	// FilterName is the name returned by Name; "" means "milter". Set it
	// to tell several milters apart.
	FilterName string
}

var _ filters.Filter = (*Filter)(nil)

// Name returns f.FilterName, or "milter".
func (f *Filter) Name() string {
	if f.FilterName != "" {
		return f.FilterName
	}
	return "milter"
}

// network returns the network and address to dial for f.Addr.
func (f *Filter) network() (string, string) {
	switch {
	case strings.HasPrefix(f.Addr, "unix:"):
		return "unix", strings.TrimPrefix(f.Addr, "unix:")
	case strings.HasPrefix(f.Addr, "/"):
		return "unix", f.Addr
	}
	return "tcp", f.Addr
}

// ctxDialer dials with a context and closes the connection when the context
// is done, which interrupts any blocked read or write of the milter client.
type ctxDialer struct {
	ctx     context.Context
	offered offer // what the last session offered
	conns   []net.Conn
	stops   []func() bool
}

func (d *ctxDialer) Dial(network, addr string) (net.Conn, error) {
	var nd net.Dialer
	conn, err := nd.DialContext(d.ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.conns = append(d.conns, conn)
	d.stops = append(d.stops, context.AfterFunc(d.ctx, func() { conn.Close() }))
	return conn, nil
}

// close closes the connections dialed.
func (d *ctxDialer) close() {
	for i, c := range d.conns {
		d.stops[i]()
		c.Close()
	}
}

// Check runs msg through the milter.
func (f *Filter) Check(ctx context.Context, msg *filters.Message) (filters.Verdict, error) {
	if f.Addr == "" {
		return filters.Verdict{}, errors.New("milter: no address configured")
	}
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("timed out after %v", timeout))
	defer cancel()

	dialer := &ctxDialer{ctx: ctx}
	defer dialer.close()
	s, err := f.session(dialer, offeredActions, offeredSteps)
	if errors.Is(err, gomilter.ErrUnsupportedMilterVersion) {
		// An older milter: offer what its version knows.
		s, err = f.session(dialer, offeredActionsV2, offeredStepsV2)
	}
	if err != nil {
		return filters.Verdict{}, f.wrap(ctx, err)
	}
	if err := checkNegotiated(s, dialer.offered); err != nil {
		s.Close()
		return filters.Verdict{}, f.wrap(ctx, err)
	}
	r := &run{f: f, s: s, msg: msg}
	v, err := r.run()
	if err != nil {
		return filters.Verdict{}, f.wrap(ctx, err)
	}
	// Quit politely; the verdict stands whatever happens.
	s.Close()
	return v, nil
}

// session opens a milter session offering actions and steps.
func (f *Filter) session(d *ctxDialer, actions gomilter.OptAction, steps gomilter.OptProtocol) (*gomilter.ClientSession, error) {
	network, addr := f.network()
	d.offered = offer{actions, steps}
	client := gomilter.NewClientWithOptions(network, addr, gomilter.ClientOptions{
		Dialer: d,
		// No per-operation deadlines: ctx bounds the session and closes
		// the connection when done.
		ActionMask:   actions,
		ProtocolMask: steps,
	})
	return client.Session()
}

// offer is what we offered at negotiation.
type offer struct {
	actions gomilter.OptAction
	steps   gomilter.OptProtocol
}

// checkNegotiated refuses a milter that asks for actions or steps we did
// not offer (as libmilter does in the other direction): we could not honour
// them.
func checkNegotiated(s *gomilter.ClientSession, o offer) error {
	if extra := s.ActionOpts &^ o.actions; extra != 0 {
		return fmt.Errorf("milter: negotiate: the milter wants actions 0x%x we do not support", uint32(extra))
	}
	if extra := s.ProtocolOpts &^ o.steps; extra != 0 {
		return fmt.Errorf("milter: negotiate: the milter wants protocol steps 0x%x we do not support", uint32(extra))
	}
	return nil
}

// wrap reports err, preferring ctx's cause when ctx is done (the
// connection was closed because of it).
func (f *Filter) wrap(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("milter %s: %w", f.Addr, context.Cause(ctx))
	}
	if !strings.HasPrefix(err.Error(), "milter") {
		return fmt.Errorf("milter %s: %w", f.Addr, err)
	}
	return fmt.Errorf("%s (%s)", err, f.Addr)
}

// run is one milter session for one message.
type run struct {
	f        *Filter
	s        *gomilter.ClientSession
	msg      *filters.Message
	evidence []filters.Evidence
}

func (r *run) note(result, detail string) {
	r.evidence = append(r.evidence, filters.Evidence{Filter: r.f.Name(), Result: result, Detail: detail})
}

// done reports whether act ends the session, and the verdict if so.
func (r *run) done(stage string, act *gomilter.Action) (filters.Verdict, bool) {
	switch act.Code {
	case gomilter.ActContinue, gomilter.ActSkip:
		return filters.Verdict{}, false
	case gomilter.ActAccept:
		r.note("accept", "accepted at "+stage)
		return r.verdict(filters.Verdict{}), true
	}
	return r.verdict(decision(stage, act)), true
}

// verdict returns v with the evidence gathered so far.
func (r *run) verdict(v filters.Verdict) filters.Verdict {
	v.Evidence = append(r.evidence, v.Evidence...)
	for i := range v.Evidence {
		if v.Evidence[i].Filter == "" {
			v.Evidence[i].Filter = r.f.Name()
		}
	}
	return v
}

// decision maps a final milter action other than accept and continue to a
// verdict.
func decision(stage string, act *gomilter.Action) filters.Verdict {
	var v filters.Verdict
	switch act.Code {
	case gomilter.ActReject:
		v = filters.Verdict{Action: filters.Reject, Code: 550, EnhancedCode: [3]int{5, 7, 1}, Reason: "Message rejected by content filter"}
	case gomilter.ActTempFail:
		v = filters.Verdict{Action: filters.TempFail, Code: 451, EnhancedCode: [3]int{4, 7, 1}, Reason: "Message deferred by content filter, try again later"}
	case gomilter.ActDiscard:
		v = filters.Verdict{Action: filters.Quarantine, Reason: "milter asked to discard the message"}
	case gomilter.ActReplyCode:
		v = replyVerdict(act.SMTPCode, act.SMTPText)
	default:
		v = filters.Verdict{Action: filters.TempFail, Code: 451, EnhancedCode: [3]int{4, 7, 0},
			Reason: "Temporary failure while checking the message, try again later"}
		v.Evidence = []filters.Evidence{{Result: "error", Detail: fmt.Sprintf("unexpected milter action %q at %s", rune(act.Code), stage)}}
		return v
	}
	v.Evidence = []filters.Evidence{{Result: v.Action.String(), Detail: fmt.Sprintf("%s at %s: %s", actionName(act), stage, v.Reason)}}
	return v
}

func actionName(act *gomilter.Action) string {
	switch act.Code {
	case gomilter.ActReject:
		return "reject"
	case gomilter.ActTempFail:
		return "tempfail"
	case gomilter.ActDiscard:
		return "discard"
	case gomilter.ActReplyCode:
		return "reply " + strconv.Itoa(act.SMTPCode)
	}
	return string(rune(act.Code))
}

// replyVerdict maps a custom SMTP reply from the milter (e.g. 554 with text
// "5.7.1 Spam") to a verdict.
func replyVerdict(code int, text string) filters.Verdict {
	var v filters.Verdict
	switch code / 100 {
	case 5:
		v.Action = filters.Reject
	case 4:
		v.Action = filters.TempFail
	default:
		// A 2xx or malformed reply code: the milter did not say what it
		// meant; be safe and defer.
		v.Action = filters.TempFail
		code = 451
	}
	v.Code = code
	text = strings.TrimSpace(text)
	if enh, rest, ok := parseEnhanced(text); ok && enh[0] == code/100 {
		v.EnhancedCode, text = enh, rest
	} else if v.Action == filters.Reject {
		v.EnhancedCode = [3]int{5, 7, 1}
	} else {
		v.EnhancedCode = [3]int{4, 7, 1}
	}
	v.Reason = text
	return v
}

// parseEnhanced splits an enhanced status code ("5.7.1 text") off s.
func parseEnhanced(s string) ([3]int, string, bool) {
	first, rest, _ := strings.Cut(s, " ")
	parts := strings.Split(first, ".")
	if len(parts) != 3 {
		return [3]int{}, s, false
	}
	var enh [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 999 {
			return [3]int{}, s, false
		}
		enh[i] = n
	}
	return enh, strings.TrimSpace(rest), true
}

// run sends the message through the session and returns the verdict.
func (r *run) run() (filters.Verdict, error) {
	s, msg := r.s, r.msg

	// Macros many milters look at: our host name, and the authenticated
	// user at MAIL FROM.
	if msg.Conn.Hostname != "" {
		if err := s.Macros(gomilter.CodeConn, "j", msg.Conn.Hostname, "{daemon_name}", "yubin"); err != nil {
			return filters.Verdict{}, err
		}
	}
	hostname, family, port, addr := connArgs(msg.Conn)
	act, err := s.Conn(hostname, family, port, addr)
	if err != nil {
		return filters.Verdict{}, err
	}
	if v, done := r.done("connect", act); done {
		return v, nil
	}
	if msg.Conn.HELO != "" {
		if act, err = s.Helo(msg.Conn.HELO); err != nil {
			return filters.Verdict{}, err
		}
		if v, done := r.done("helo", act); done {
			return v, nil
		}
	}
	if msg.Conn.AuthUser != "" {
		if err := s.Macros(gomilter.CodeMail, "{auth_authen}", msg.Conn.AuthUser); err != nil {
			return filters.Verdict{}, err
		}
	}
	if act, err = s.Mail(msg.Envelope.MailFrom, nil); err != nil {
		return filters.Verdict{}, err
	}
	if v, done := r.done("mail", act); done {
		return v, nil
	}
	if v, done, err := r.rcpts(); err != nil || done {
		return v, err
	}

	// Header and body, split from the raw message as core/mimeparse (the
	// parser the MTA, the other filters and the IMAP server share) splits
	// it: the header runs to the empty line; lines in it that are no field
	// are not sent.
	hdr, n, err := filters.ReadHeader(msg.Open(), maxHeaderBytes)
	if err != nil {
		return filters.Verdict{}, fmt.Errorf("milter: reading message: %w", err)
	}
	br := bufio.NewReaderSize(msg.Open(), 64<<10)
	if _, err := br.Discard(n); err != nil && !errors.Is(err, io.EOF) {
		return filters.Verdict{}, fmt.Errorf("milter: reading message: %w", err)
	}
	for fields := hdr.Fields(); fields.Next(); {
		if act, err = s.HeaderField(fields.Key(), fields.Value()); err != nil {
			return filters.Verdict{}, err
		}
		if v, done := r.done("header", act); done {
			return v, nil
		}
	}
	if act, err = s.HeaderEnd(); err != nil {
		return filters.Verdict{}, err
	}
	if v, done := r.done("end of header", act); done {
		return v, nil
	}
	buf := make([]byte, gomilter.MaxBodyChunk)
	for {
		n, rerr := io.ReadFull(br, buf)
		if n > 0 {
			if act, err = s.BodyChunk(buf[:n]); err != nil {
				return filters.Verdict{}, err
			}
			if act.Code == gomilter.ActSkip {
				break
			}
			if v, done := r.done("body", act); done {
				return v, nil
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return filters.Verdict{}, fmt.Errorf("milter: reading message: %w", rerr)
		}
	}
	mods, act, err := s.End()
	if err != nil {
		return filters.Verdict{}, err
	}
	v := r.modifications(mods)
	switch act.Code {
	case gomilter.ActAccept, gomilter.ActContinue:
	default:
		d := decision("end of message", act)
		if d.Action >= v.Action {
			v.Action, v.Code, v.EnhancedCode, v.Reason = d.Action, d.Code, d.EnhancedCode, d.Reason
		}
		r.evidence = append(r.evidence, d.Evidence...)
	}
	return r.verdict(v), nil
}

// rcpts sends the recipients. The message gets a recipient's rejection
// only if every recipient is refused.
func (r *run) rcpts() (filters.Verdict, bool, error) {
	var refused *filters.Verdict
	accepted := 0
	for _, rcpt := range r.msg.Envelope.Recipients {
		act, err := r.s.Rcpt(rcpt, nil)
		if err != nil {
			return filters.Verdict{}, false, err
		}
		switch act.Code {
		case gomilter.ActContinue, gomilter.ActSkip:
			accepted++
		case gomilter.ActAccept:
			r.note("accept", "accepted at rcpt")
			return r.verdict(filters.Verdict{}), true, nil
		case gomilter.ActDiscard:
			// Discard at RCPT discards the whole message.
			return r.verdict(decision("rcpt", act)), true, nil
		default:
			d := decision("rcpt "+rcpt, act)
			r.evidence = append(r.evidence, d.Evidence...)
			if refused == nil || d.Action > refused.Action {
				d.Evidence = nil
				refused = &d
			}
		}
	}
	if accepted == 0 && refused != nil {
		return r.verdict(*refused), true, nil
	}
	return filters.Verdict{}, false, nil
}

// modifications maps the milter's modification requests to a verdict:
// header additions on top of the message, the other changes as a Rewrite
// the MTA applies (see filters.ApplyRewrite), quarantine as the action.
func (r *run) modifications(mods []gomilter.ModifyAction) filters.Verdict {
	var v filters.Verdict
	rw := &filters.Rewrite{}
	var body []byte
	for _, m := range mods {
		switch m.Code {
		case gomilter.ActAddHeader:
			v.AddHeaders = append(v.AddHeaders, filters.HeaderField{Key: m.HeaderName, Value: m.HeaderValue})
		case gomilter.ActInsertHeader:
			if m.HeaderIndex == 0 {
				// At the very top: where AddHeaders go too (under
				// our own Received field, which the milter did not
				// see), without rewriting the message.
				v.AddHeaders = append(v.AddHeaders, filters.HeaderField{Key: m.HeaderName, Value: m.HeaderValue})
				continue
			}
			rw.HeaderEdits = append(rw.HeaderEdits, filters.HeaderEdit{Insert: true, Key: m.HeaderName, Value: m.HeaderValue, Index: int(m.HeaderIndex)})
			r.note("modified", fmt.Sprintf("insert header field %s at %d", m.HeaderName, m.HeaderIndex))
		case gomilter.ActChangeHeader:
			rw.HeaderEdits = append(rw.HeaderEdits, filters.HeaderEdit{Key: m.HeaderName, Value: m.HeaderValue, Index: int(m.HeaderIndex)})
			if m.HeaderValue == "" {
				r.note("modified", fmt.Sprintf("delete header field %s #%d", m.HeaderName, m.HeaderIndex))
			} else {
				r.note("modified", fmt.Sprintf("change header field %s #%d", m.HeaderName, m.HeaderIndex))
			}
		case gomilter.ActQuarantine:
			v.Action = filters.Quarantine
			v.Reason = cmp.Or(strings.TrimSpace(m.Reason), "quarantined by milter")
			r.note("quarantine", m.Reason)
		case gomilter.ActReplBody:
			// Sent in chunks that make up the new body together.
			if !rw.ReplaceBody {
				r.note("modified", "replace body")
			}
			rw.ReplaceBody = true
			body = append(body, m.Body...)
		case gomilter.ActAddRcpt:
			rcpt := envelopeAddress(m.Rcpt)
			rw.AddRecipients = append(rw.AddRecipients, rcpt)
			r.note("modified", "add recipient "+rcpt)
		case gomilter.ActDelRcpt:
			rcpt := envelopeAddress(m.Rcpt)
			rw.RemoveRecipients = append(rw.RemoveRecipients, rcpt)
			r.note("modified", "delete recipient "+rcpt)
		case gomilter.ActChangeFrom:
			rw.MailFrom, rw.ChangeMailFrom = envelopeAddress(m.From), true
			r.note("modified", "change sender to <"+rw.MailFrom+">")
		default:
			r.note("ignored", fmt.Sprintf("modification %q", rune(m.Code)))
		}
	}
	if rw.ReplaceBody {
		rw.Body = body
		if rw.Body == nil {
			rw.Body = []byte{}
		}
	}
	if !rw.IsZero() {
		v.Rewrite = rw
	}
	return v
}

// envelopeAddress returns the address of a milter's envelope argument,
// written with or without angle brackets.
func envelopeAddress(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "<")
	if i := strings.IndexByte(s, '>'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// connArgs returns the arguments of the milter Conn command for conn.
func connArgs(conn filters.ConnInfo) (hostname string, family gomilter.ProtoFamily, port uint16, addr string) {
	a := conn.RemoteAddr.Addr()
	if !a.IsValid() {
		return "localhost", gomilter.FamilyUnknown, 0, ""
	}
	a = a.Unmap()
	family = gomilter.FamilyInet
	if a.Is6() {
		family = gomilter.FamilyInet6
	}
	// We have no verified host name of the client: use the address
	// literal, as sendmail does for unresolved clients.
	return "[" + a.String() + "]", family, conn.RemoteAddr.Port(), a.String()
}
