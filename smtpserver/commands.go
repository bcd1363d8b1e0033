package smtpserver

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/internal/sasl"
)

// notImplemented are commands of RFC 5321 and its extensions that this
// server knows but does not offer: 502, where unknown verbs get 500.
var notImplemented = []string{"EXPN", "TURN", "ETRN", "ATRN", "SEND", "SOML", "SAML", "XCLIENT", "XFORWARD"}

// junkCommands move no mail forward; maxJunkCommands of them are free
// between two accepted messages (as Postfix's smtpd_junk_command_limit).
var junkCommands = []string{"NOOP", "RSET", "VRFY", "HELP", "EHLO", "HELO"}

const maxJunkCommands = 100

// dispatch runs one command line.
func (c *Conn) dispatch(line string) error {
	cmd, err := parseCommand(line)
	if err != nil {
		c.fail(500, smtp.EnhancedCode{5, 5, 2}, "Syntax error: not a command line")
		return nil
	}
	if c.chunk != nil && !slices.Contains([]string{"BDAT", "BURL", "RSET", "QUIT", "NOOP", "EHLO", "HELO"}, cmd.verb) {
		// RFC 3030 §2: between BDAT chunks only BDAT (and here BURL) go
		// on with the message.
		c.fail(503, smtp.EnhancedCode{5, 5, 1}, cmd.verb+" not allowed during a BDAT transfer: send BDAT ... LAST or RSET")
		return nil
	}
	if slices.Contains(junkCommands, cmd.verb) {
		// Beyond maxJunkCommands, each counts as an error: a client that
		// only keeps the connection busy is closed in the end.
		if c.junk++; c.junk > maxJunkCommands {
			c.errors++
		}
	}
	switch cmd.verb {
	case "EHLO", "HELO":
		c.cmdHello(cmd)
	case "MAIL":
		c.cmdMail(cmd)
	case "RCPT":
		c.cmdRcpt(cmd)
	case "DATA":
		return c.cmdData(cmd)
	case "BDAT":
		return c.cmdBDAT(cmd)
	case "BURL":
		return c.cmdBURL(cmd)
	case "RSET":
		if cmd.arg != "" {
			c.fail(501, smtp.EnhancedCode{5, 5, 4}, "RSET takes no argument")
			return nil
		}
		c.abortTransfer()
		if c.sess != nil {
			c.endTransaction()
		}
		c.reply(250, smtp.EnhancedCode{2, 0, 0}, "OK: transaction reset")
	case "NOOP":
		c.reply(250, smtp.EnhancedCode{2, 0, 0}, "OK")
	case "QUIT":
		c.abortTransfer()
		c.reply(221, smtp.EnhancedCode{2, 0, 0}, c.srv.opts.Hostname+" closing connection")
		return errQuit
	case "VRFY":
		if cmd.arg == "" {
			c.fail(501, smtp.EnhancedCode{5, 5, 4}, "VRFY needs an argument")
			return nil
		}
		c.reply(252, smtp.EnhancedCode{2, 5, 0}, "Cannot VRFY user, but will accept the message and attempt delivery")
	case "HELP":
		c.reply(214, smtp.EnhancedCode{2, 0, 0}, "Commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA BDAT BURL RSET NOOP VRFY HELP QUIT\nSee RFC 5321 and RFC 6409")
	case "STARTTLS":
		return c.cmdStartTLS(cmd)
	case "AUTH":
		c.cmdAuth(cmd)
	default:
		if slices.Contains(notImplemented, cmd.verb) {
			c.fail(502, smtp.EnhancedCode{5, 5, 1}, cmd.verb+" is not implemented")
		} else {
			c.fail(500, smtp.EnhancedCode{5, 5, 2}, "Command not recognized: "+printable(cmd.verb))
		}
	}
	return nil
}

// cmdHello runs HELO and EHLO (RFC 5321 §4.1.1.1). A later one ends the
// transaction, as RSET does.
func (c *Conn) cmdHello(cmd command) {
	name := strings.TrimSpace(cmd.arg)
	if name == "" || strings.ContainsAny(name, " \t") {
		c.fail(501, smtp.EnhancedCode{5, 5, 4}, "Syntax: "+cmd.verb+" hostname")
		return
	}
	c.abortTransfer()
	c.helo = name
	if c.sess != nil {
		c.endTransaction()
	} else {
		sess, err := c.srv.backend.NewSession(c)
		if err != nil {
			c.replyErr(err, 0, smtp.NoEnhancedCode, "")
			return
		}
		c.sess = sess
	}
	c.ehlo = cmd.verb == "EHLO"
	if !c.ehlo {
		c.reply(250, smtp.NoEnhancedCode, c.srv.opts.Hostname+" Hello "+printable(name))
		return
	}
	lines := []string{
		c.srv.opts.Hostname + " Hello " + printable(name),
		"PIPELINING",
		"8BITMIME",
		"SMTPUTF8",
		"ENHANCEDSTATUSCODES",
		fmt.Sprintf("SIZE %d", c.srv.opts.MaxMessageBytes),
		"CHUNKING",
	}
	if c.tls == nil && c.srv.opts.TLSConfig != nil {
		lines = append(lines, "STARTTLS")
	}
	if a, ok := c.sess.(AuthSession); ok && !c.authed {
		if mechs := a.AuthMechanisms(); len(mechs) > 0 {
			lines = append(lines, "AUTH "+strings.Join(mechs, " "))
		}
	}
	if _, ok := c.sess.(URLSession); ok && c.authed {
		lines = append(lines, "BURL imap")
	}
	lines = append(lines, "HELP")
	c.replyLines(250, lines)
}

// needHello refuses a command before HELO/EHLO.
func (c *Conn) needHello() bool {
	if c.sess == nil {
		c.fail(503, smtp.EnhancedCode{5, 5, 1}, "Say EHLO first")
		return false
	}
	return true
}

// cmdStartTLS runs STARTTLS (RFC 3207). Whatever the client sent after
// the command, before the handshake, is thrown away: it was sent in the
// clear, and must not be taken as commands of the protected session
// (CVE-2011-0411 and its kind).
func (c *Conn) cmdStartTLS(cmd command) error {
	switch {
	case c.tls != nil:
		c.fail(503, smtp.EnhancedCode{5, 5, 1}, "Already under TLS")
		return nil
	case c.srv.opts.TLSConfig == nil:
		c.fail(502, smtp.EnhancedCode{5, 5, 1}, "TLS is not available")
		return nil
	case cmd.arg != "":
		c.fail(501, smtp.EnhancedCode{5, 5, 4}, "STARTTLS takes no argument")
		return nil
	}
	c.logout()
	c.mail, c.rcpts, c.helo, c.ehlo, c.authed = false, 0, "", false, false
	c.inTx.Store(false)
	c.reply(220, smtp.EnhancedCode{2, 0, 0}, "Ready to start TLS")
	if err := c.flush(); err != nil {
		return errQuit
	}
	if n := c.r.Buffered(); n > 0 {
		c.log.Warn("discarding input pipelined after STARTTLS", "bytes", n)
	}
	tc := tls.Server(c.sc.Conn(), c.srv.opts.TLSConfig)
	if !c.handshake(tc) {
		return errQuit
	}
	c.sc.Replace(tc)
	c.setIO(tc) // a new reader: the buffered clear text is gone
	return nil
}

// cmdAuth runs AUTH (RFC 4954) with PLAIN (RFC 4616) or LOGIN, each with
// an initial response or without.
func (c *Conn) cmdAuth(cmd command) {
	if !c.needHello() {
		return
	}
	a, ok := c.sess.(AuthSession)
	switch {
	case !ok:
		c.fail(502, smtp.EnhancedCode{5, 5, 1}, "AUTH is not available")
		return
	case c.authed:
		c.fail(503, smtp.EnhancedCode{5, 5, 1}, "Already authenticated")
		return
	case c.mail:
		c.fail(503, smtp.EnhancedCode{5, 5, 1}, "AUTH not allowed during a mail transaction")
		return
	}
	f := strings.Fields(cmd.arg)
	if len(f) == 0 || len(f) > 2 {
		c.fail(501, smtp.EnhancedCode{5, 5, 4}, "Syntax: AUTH mechanism [initial-response]")
		return
	}
	mechs := a.AuthMechanisms()
	if len(mechs) == 0 {
		if c.tls == nil {
			c.fail(538, smtp.EnhancedCode{5, 7, 11}, "Encryption required: use STARTTLS first")
		} else {
			c.fail(502, smtp.EnhancedCode{5, 5, 1}, "AUTH is not available")
		}
		return
	}
	mech := strings.ToUpper(f[0])
	if !slices.ContainsFunc(mechs, func(m string) bool { return strings.EqualFold(m, mech) }) {
		c.fail(504, smtp.EnhancedCode{5, 5, 4}, "Unrecognized authentication type; offered: "+strings.Join(mechs, " "))
		return
	}
	ir, hasIR := "", len(f) == 2
	if hasIR {
		ir = f[1]
	}
	var identity, username, password string
	switch mech {
	case "PLAIN":
		resp, ok := c.saslResponse(ir, hasIR, "")
		if !ok {
			return
		}
		var err error
		if identity, username, password, err = sasl.DecodePlain(resp); err != nil {
			c.fail(501, smtp.EnhancedCode{5, 5, 2}, "Malformed authentication response")
			return
		}
	case "LOGIN":
		resp, ok := c.saslResponse(ir, hasIR, "Username:")
		if !ok {
			return
		}
		user, err := base64.StdEncoding.DecodeString(resp)
		if err != nil || len(user) == 0 {
			c.fail(501, smtp.EnhancedCode{5, 5, 2}, "Malformed authentication response")
			return
		}
		if resp, ok = c.saslResponse("", false, "Password:"); !ok {
			return
		}
		pass, err := base64.StdEncoding.DecodeString(resp)
		if err != nil {
			c.fail(501, smtp.EnhancedCode{5, 5, 2}, "Malformed authentication response")
			return
		}
		username, password = string(user), string(pass)
	default:
		c.fail(504, smtp.EnhancedCode{5, 5, 4}, "Unrecognized authentication type")
		return
	}
	if c.replyErr(a.Authenticate(identity, username, password), 235, smtp.EnhancedCode{2, 7, 0}, "Authentication successful") {
		c.authed = true
	}
}

// saslResponse returns the client's response, base64 as sent: the initial
// response if there is one ("=" for an empty one), else the answer to a
// 334 with challenge. A "*" cancels (501), as does a broken line.
func (c *Conn) saslResponse(ir string, hasIR bool, challenge string) (string, bool) {
	if hasIR {
		if ir == "=" {
			return "", true
		}
		return ir, true
	}
	c.reply(334, smtp.NoEnhancedCode, base64.StdEncoding.EncodeToString([]byte(challenge)))
	if err := c.flush(); err != nil {
		return "", false
	}
	_ = c.sc.Conn().SetReadDeadline(time.Now().Add(c.srv.opts.ReadTimeout))
	line, err := c.readLine(maxAuthLineBytes)
	switch {
	case errors.Is(err, errLineTooLong):
		c.fail(500, smtp.EnhancedCode{5, 5, 6}, "Authentication exchange line is too long")
		return "", false
	case err != nil:
		c.lost(err)
		return "", false
	case line == "*":
		c.fail(501, smtp.EnhancedCode{5, 0, 0}, "Authentication cancelled")
		return "", false
	}
	return line, true
}

// cmdMail runs MAIL (RFC 5321 §4.1.1.2) with the parameters SIZE (RFC
// 1870), BODY (RFC 6152: 7BIT and 8BITMIME), SMTPUTF8 (RFC 6531) and AUTH
// (RFC 4954 §5).
func (c *Conn) cmdMail(cmd command) {
	if !c.needHello() {
		return
	}
	if c.mail {
		c.fail(503, smtp.EnhancedCode{5, 5, 1}, "Nested MAIL command: one transaction at a time")
		return
	}
	from, params, perr := parsePathArg(cmd.arg, "FROM:")
	if perr != nil {
		c.fail(perr.Code, perr.EnhancedCode, perr.Message)
		return
	}
	if len(params) > 0 && !c.ehlo {
		c.fail(555, smtp.EnhancedCode{5, 5, 4}, "MAIL parameters need EHLO")
		return
	}
	opts := &smtp.MailOptions{}
	for _, p := range params {
		switch p.key {
		case "SIZE":
			n, ok := parseSize(p.value)
			if !ok {
				c.fail(501, smtp.EnhancedCode{5, 5, 4}, "SIZE needs a number of bytes")
				return
			}
			opts.Size = n
		case "BODY":
			switch strings.ToUpper(p.value) {
			case "7BIT":
				opts.Body = smtp.Body7Bit
			case "8BITMIME":
				opts.Body = smtp.Body8BitMIME
			default:
				c.fail(555, smtp.EnhancedCode{5, 5, 4}, "BODY must be 7BIT or 8BITMIME")
				return
			}
		case "SMTPUTF8":
			if p.hasValue {
				c.fail(501, smtp.EnhancedCode{5, 5, 4}, "SMTPUTF8 takes no value")
				return
			}
			opts.UTF8 = true
		case "AUTH":
			v, ok := xtextDecode(p.value)
			if !ok {
				c.fail(501, smtp.EnhancedCode{5, 5, 4}, "Malformed AUTH= value")
				return
			}
			if v == "<>" {
				v = ""
			}
			opts.Auth = &v
		default:
			c.fail(555, smtp.EnhancedCode{5, 5, 4}, "Unsupported MAIL parameter "+printable(p.key))
			return
		}
	}
	if c.replyErr(c.sess.Mail(from, opts), 250, smtp.EnhancedCode{2, 1, 0}, "Sender OK") {
		c.mail, c.rcpts = true, 0
		c.inTx.Store(true)
	}
}

// cmdRcpt runs RCPT (RFC 5321 §4.1.1.3).
func (c *Conn) cmdRcpt(cmd command) {
	if !c.needHello() {
		return
	}
	if !c.mail {
		c.fail(503, smtp.EnhancedCode{5, 5, 1}, "Send MAIL first")
		return
	}
	to, params, perr := parsePathArg(cmd.arg, "TO:")
	if perr != nil {
		c.fail(perr.Code, perr.EnhancedCode, perr.Message)
		return
	}
	if to == "" {
		c.fail(501, smtp.EnhancedCode{5, 1, 3}, "The recipient cannot be empty")
		return
	}
	if len(params) > 0 {
		c.fail(555, smtp.EnhancedCode{5, 5, 4}, "Unsupported RCPT parameter "+printable(params[0].key))
		return
	}
	if c.rcpts >= c.srv.opts.MaxRecipients {
		c.reply(452, smtp.EnhancedCode{4, 5, 3}, fmt.Sprintf("Too many recipients: the limit is %d", c.srv.opts.MaxRecipients))
		return
	}
	if c.replyErr(c.sess.Rcpt(to, &smtp.RcptOptions{}), 250, smtp.EnhancedCode{2, 1, 5}, "Recipient OK") {
		c.rcpts++
	}
}

// needRecipients refuses message content before MAIL and RCPT.
func (c *Conn) needRecipients(verb string) bool {
	if !c.needHello() {
		return false
	}
	if !c.mail {
		c.fail(503, smtp.EnhancedCode{5, 5, 1}, "Send MAIL first")
		return false
	}
	if c.rcpts == 0 {
		c.fail(503, smtp.EnhancedCode{5, 5, 1}, "Send RCPT first: no valid recipients")
		return false
	}
	return true
}

// cmdData runs DATA (RFC 5321 §4.1.1.4): the reply comes once the session
// has the message and the client has sent its end.
func (c *Conn) cmdData(cmd command) error {
	if cmd.arg != "" {
		c.fail(501, smtp.EnhancedCode{5, 5, 4}, "DATA takes no argument")
		return nil
	}
	if !c.needRecipients("DATA") {
		return nil
	}
	c.reply(354, smtp.NoEnhancedCode, "Start mail input; end with <CRLF>.<CRLF>")
	if err := c.flush(); err != nil {
		return errQuit
	}
	c.dataMode.Store(true)
	dr := newDotReader(c.r)
	err := c.sess.Data(dr)
	_, derr := io.Copy(io.Discard, dr)
	c.dataMode.Store(false)
	if derr != nil {
		// The client went away within the message: nobody to answer.
		c.log.Info("connection lost within DATA", "err", derr)
		return errQuit
	}
	if c.replyErr(err, 250, smtp.EnhancedCode{2, 0, 0}, "OK") {
		c.junk = 0
	}
	// The reply goes out before the session hears that the transaction
	// is over (it may close the connection then, on shutdown).
	if err := c.flush(); err != nil {
		return errQuit
	}
	c.endTransaction()
	return nil
}

// transfer is a message under way in BDAT chunks and BURL parts (RFC 3030,
// RFC 4468): the session's Data reads it from a pipe, on a goroutine of
// its own, while the chunks arrive.
type transfer struct {
	w     *io.PipeWriter
	done  chan error // Data's result
	size  int64      // bytes so far
	ended bool       // Data returned (its result was taken from done)
	err   error      // that result
}

// startTransfer starts the session's Data on a pipe.
func (c *Conn) startTransfer() *transfer {
	pr, pw := io.Pipe()
	t := &transfer{w: pw, done: make(chan error, 1)}
	sess := c.sess
	go func() {
		var err error
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic in Data: %v", p)
			}
			// Further chunks are read from the client and dropped.
			pr.CloseWithError(errTransferDone)
			t.done <- err
		}()
		err = sess.Data(pr)
	}()
	return t
}

// errTransferDone tells the writer of a transfer that Data returned.
var errTransferDone = errors.New("message reader returned")

// errTransferAborted is what Data reads when the transfer is cut short.
var errTransferAborted = errors.New("BDAT transfer aborted by the client")

// finished reports whether Data has returned, and its result.
func (t *transfer) finished() (bool, error) {
	if !t.ended {
		select {
		case t.err = <-t.done:
			t.ended = true
		default:
		}
	}
	return t.ended, t.err
}

// wait ends the transfer (closing the pipe with err, nil meaning the
// message is complete) and returns Data's result.
func (t *transfer) wait(err error) error {
	if t.ended {
		return t.err
	}
	t.w.CloseWithError(err)
	t.err, t.ended = <-t.done, true
	return t.err
}

// abortTransfer ends a transfer under way, if any, without a reply.
func (c *Conn) abortTransfer() {
	if c.chunk == nil {
		return
	}
	c.chunk.wait(errTransferAborted)
	c.chunk = nil
}

// cmdBDAT runs BDAT (RFC 3030): the chunk is read whatever happens, then
// answered.
func (c *Conn) cmdBDAT(cmd command) error {
	sizeArg, last, ok := parseChunkArg(cmd.arg)
	n, nok := parseSize(sizeArg)
	if !ok || !nok {
		// The chunk's size is unknown: the rest of the input cannot be
		// read in step with the client.
		c.fail(501, smtp.EnhancedCode{5, 5, 4}, "Syntax: BDAT size [LAST]; closing the connection")
		return errQuit
	}
	if !c.needRecipients("BDAT") {
		// The chunk follows anyway: read and drop it.
		return c.discard(n)
	}
	if c.chunk == nil {
		c.chunk = c.startTransfer()
	}
	t := c.chunk
	c.dataMode.Store(true)
	_, err := io.CopyN(&discardingWriter{w: t.w}, c.r, n)
	c.dataMode.Store(false)
	if err != nil {
		c.log.Info("connection lost within BDAT", "err", err)
		return errQuit
	}
	t.size += n
	return c.chunkDone(last, fmt.Sprintf("%d bytes received", n))
}

// discard reads and drops n bytes of a chunk that is refused.
func (c *Conn) discard(n int64) error {
	c.dataMode.Store(true)
	_, err := io.CopyN(io.Discard, c.r, n)
	c.dataMode.Store(false)
	if err != nil {
		return errQuit
	}
	return nil
}

// chunkDone answers a BDAT or BURL whose content was handed to the
// session: with LAST, the message's result; before, "250", unless the
// session already refused the message (then its reply, and the
// transaction is over).
func (c *Conn) chunkDone(last bool, text string) error {
	t := c.chunk
	if last {
		if c.replyErr(t.wait(nil), 250, smtp.EnhancedCode{2, 0, 0}, "OK") {
			c.junk = 0
		}
	} else if ended, err := t.finished(); ended {
		if err == nil {
			err = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 5, 0}, Message: "Message ended before LAST"}
		}
		c.replyErr(err, 0, smtp.NoEnhancedCode, "")
	} else {
		c.reply(250, smtp.EnhancedCode{2, 0, 0}, text)
		return nil
	}
	if err := c.flush(); err != nil {
		return errQuit
	}
	c.chunk = nil
	c.endTransaction()
	return nil
}

// cmdBURL runs BURL (RFC 4468): the content of an IMAP URL, fetched by the
// session for its logged-in user, is the next part of the message. A URL
// that cannot be used ends the transaction with the session's reply.
func (c *Conn) cmdBURL(cmd command) error {
	us, ok := c.sess.(URLSession)
	switch {
	case c.sess == nil:
		c.fail(503, smtp.EnhancedCode{5, 5, 1}, "Say EHLO first")
		return nil
	case !ok:
		c.fail(502, smtp.EnhancedCode{5, 5, 1}, "BURL is not available")
		return nil
	case !c.authed:
		c.fail(530, smtp.EnhancedCode{5, 7, 0}, "Authentication required for BURL")
		return nil
	}
	url, last, ok := parseChunkArg(cmd.arg)
	if !ok {
		c.fail(501, smtp.EnhancedCode{5, 5, 4}, "Syntax: BURL imap-url [LAST]")
		return nil
	}
	if !c.needRecipients("BURL") {
		return nil
	}
	data, err := us.FetchURL(c.ctx, url)
	if err != nil {
		c.replyErr(err, 0, smtp.NoEnhancedCode, "")
		if err := c.flush(); err != nil {
			return errQuit
		}
		c.abortTransfer()
		c.endTransaction()
		return nil
	}
	if c.chunk == nil {
		c.chunk = c.startTransfer()
	}
	_, _ = (&discardingWriter{w: c.chunk.w}).Write(data)
	c.chunk.size += int64(len(data))
	return c.chunkDone(last, fmt.Sprintf("%d bytes added from the URL", len(data)))
}
