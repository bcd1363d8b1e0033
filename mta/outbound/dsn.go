package outbound

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"
)

// DSN actions (RFC 3464 §2.3.3).
const (
	actionFailed  = "failed"
	actionDelayed = "delayed"
)

// maxHeaderBytes bounds the original header returned in a DSN.
const maxHeaderBytes = 64 << 10

// report is what a delivery status notification says.
type report struct {
	hostname   string // ours: Reporting-MTA and the From address
	to         string // the original sender
	action     string
	expired    bool // failed because its lifetime ran out
	arrival    time.Time
	retryUntil time.Time // for delayed: when we give up
	results    []result  // one per recipient
	header     []byte    // the original message's header section
	date       time.Time
}

// buildDSN returns a multipart/report (RFC 6522) of report-type
// delivery-status (RFC 3464): a human-readable part, the
// message/delivery-status part and the original header as
// text/rfc822-headers.
func buildDSN(r report) []byte {
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	boundary := "=_dsn_" + hex.EncodeToString(rnd[:])
	date := r.date.Format(time.RFC1123Z)
	var b bytes.Buffer
	crlf := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteString("\r\n")
	}
	subject := "Undelivered Mail Returned to Sender"
	if r.action == actionDelayed {
		subject = "Delayed Mail (still being retried)"
	}
	crlf("From: Mail Delivery System <MAILER-DAEMON@%s>", r.hostname)
	crlf("To: <%s>", r.to)
	crlf("Subject: %s", subject)
	crlf("Date: %s", date)
	crlf("Message-ID: <dsn.%s@%s>", hex.EncodeToString(rnd[:8]), r.hostname)
	crlf("Auto-Submitted: auto-replied")
	crlf("MIME-Version: 1.0")
	crlf("Content-Type: multipart/report; report-type=delivery-status;")
	crlf("\tboundary=\"%s\"", boundary)
	crlf("")
	crlf("This is a MIME-encapsulated message.")
	crlf("")

	// The human-readable part.
	crlf("--%s", boundary)
	crlf("Content-Type: text/plain; charset=utf-8")
	crlf("Content-Transfer-Encoding: 8bit")
	crlf("")
	crlf("This is the mail system at %s.", r.hostname)
	crlf("")
	if r.action == actionDelayed {
		crlf("Your message has not been delivered yet to the recipients below.")
		crlf("Delivery is still being tried; you do not need to send it again.")
		if !r.retryUntil.IsZero() {
			crlf("It will be tried until %s.", r.retryUntil.Format(time.RFC1123Z))
		}
	} else if r.expired {
		crlf("Your message could not be delivered to the recipients below in the")
		crlf("time allowed (until %s): delivery was given up.", r.retryUntil.Format(time.RFC1123Z))
		crlf("The last error of each is shown.")
	} else {
		crlf("Your message could not be delivered to the recipients below.")
		crlf("This is a permanent error; it will not be tried again.")
	}
	crlf("")
	for _, res := range r.results {
		crlf("<%s>: %s", res.rcpt.addr, res.diag)
	}
	crlf("")

	// The machine-readable part (RFC 3464 §2.1-2.3).
	crlf("--%s", boundary)
	crlf("Content-Type: message/delivery-status")
	crlf("")
	crlf("Reporting-MTA: dns; %s", r.hostname)
	if !r.arrival.IsZero() {
		crlf("Arrival-Date: %s", r.arrival.Format(time.RFC1123Z))
	}
	for _, res := range r.results {
		crlf("")
		if isASCII(res.rcpt.addr) {
			crlf("Final-Recipient: rfc822; %s", res.rcpt.addr)
		} else {
			crlf("Final-Recipient: utf-8; %s", xtextUTF8(res.rcpt.addr))
		}
		crlf("Action: %s", r.action)
		crlf("Status: %s", dsnStatus(r.action, res.status))
		if res.remote != "" {
			crlf("Remote-MTA: dns; %s", asciiOnly(res.remote))
		}
		if res.diag != "" {
			typ := "X-Yubin" // a local error, not a reply
			if len(res.diag) > 4 && strings.IndexFunc(res.diag[:3], func(c rune) bool { return c < '0' || c > '9' }) < 0 && res.diag[3] == ' ' {
				typ = "smtp"
			}
			crlf("Diagnostic-Code: %s; %s", typ, asciiOnly(res.diag))
		}
		crlf("Last-Attempt-Date: %s", date)
		if r.action == actionDelayed && !r.retryUntil.IsZero() {
			crlf("Will-Retry-Until: %s", r.retryUntil.Format(time.RFC1123Z))
		}
	}
	crlf("")

	// The original header.
	crlf("--%s", boundary)
	crlf("Content-Type: text/rfc822-headers")
	crlf("")
	b.Write(r.header)
	if len(r.header) > 0 && !bytes.HasSuffix(r.header, []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	crlf("")
	crlf("--%s--", boundary)
	return b.Bytes()
}

// dsnStatus returns a status code of the right class for action.
func dsnStatus(action, status string) string {
	class := "5"
	if action == actionDelayed {
		class = "4"
	}
	if len(status) >= 5 && status[1] == '.' && strings.Count(status, ".") == 2 {
		return class + status[1:]
	}
	return class + ".0.0"
}

// readHeader returns the header section of the message in r (with CRLF
// line ends, without the blank line), at most maxHeaderBytes of it.
func readHeader(r io.Reader) []byte {
	br := bufio.NewReader(io.LimitReader(r, maxHeaderBytes))
	var b bytes.Buffer
	for {
		line, err := br.ReadString('\n')
		trimmed := strings.TrimRight(line, "\r\n")
		if trimmed == "" {
			break // the blank line, or the end
		}
		b.WriteString(trimmed)
		b.WriteString("\r\n")
		if err != nil {
			break
		}
	}
	return b.Bytes()
}

// asciiOnly replaces what a message/delivery-status field may not hold.
func asciiOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r >= 0x7f {
			return '?'
		}
		return r
	}, s)
}

// xtextUTF8 encodes an address for a utf-8 address type (RFC 6533 §3):
// non-ASCII characters as \x{HEX}.
func xtextUTF8(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x21 || r >= 0x7f || r == '\\' || r == '+' || r == '=' {
			fmt.Fprintf(&b, `\x{%X}`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
