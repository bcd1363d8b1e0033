package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"
)

// The messages look like real mail: a header as a modern MUA writes it,
// wrapped text, and for the large size a multipart/mixed message with a
// base64 attachment. Every message has its own Message-ID and Date.

// words is the vocabulary of the text bodies.
var words = strings.Fields(`the invoice for last month is attached please find
the updated figures below we will ship the order on monday thanks for your
patience regarding the meeting on thursday could you confirm the time and the
room our team reviewed the draft and has a few comments on the second section
best regards from the office in osaka kind regards let me know if anything is
unclear the delivery was delayed by the weather and should arrive next week`)

var msgSeq atomic.Uint64

// template is a message whose header has two placeholders filled per
// message: the Message-ID and the Date.
type template struct {
	head []byte // up to and including "Message-ID: <"
	mid  []byte // from the Message-ID's ">" to "Date: "
	tail []byte // after the date: the rest of the header and the body
	size int    // size of a rendered message
}

const dateLayout = "Mon, 02 Jan 2006 15:04:05 -0700"

// newTemplate returns a template for messages of about size bytes (within
// a few bytes), from rcpt. With attach, the message is multipart/mixed
// with a text part of about 1.5 KB and a base64 attachment filling the rest.
func newTemplate(size int, rcpt string, attach bool, seed uint64) *template {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var hdr bytes.Buffer
	hdr.WriteString("Return-Path: <sender@remote.example>\r\n")
	hdr.WriteString("From: \"Sender Example\" <sender@remote.example>\r\n")
	fmt.Fprintf(&hdr, "To: <%s>\r\n", rcpt)
	hdr.WriteString("Subject: Re: Quarterly figures and the delivery schedule\r\n")
	hdr.WriteString("MIME-Version: 1.0\r\n")
	hdr.WriteString("User-Agent: Mozilla Thunderbird\r\n")
	hdr.WriteString("Content-Language: en-US\r\n")
	head := append([]byte(nil), hdr.Bytes()...)
	head = append(head, "Message-ID: <"...)
	mid := []byte("@remote.example>\r\nDate: ")

	var rest bytes.Buffer
	rest.WriteString("\r\n")
	const boundary = "------------yubinbench0123456789abc"
	if attach {
		fmt.Fprintf(&rest, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n", boundary)
		rest.WriteString("This is a multi-part message in MIME format.\r\n")
		fmt.Fprintf(&rest, "--%s\r\n", boundary)
	}
	rest.WriteString("Content-Type: text/plain; charset=UTF-8; format=flowed\r\n")
	rest.WriteString("Content-Transfer-Encoding: 7bit\r\n\r\n")

	// Fixed parts of a rendered message: head + id (16 hex) + mid + date + rest.
	fixed := len(head) + 16 + len(mid) + len(dateLayout) + rest.Len()
	textSize := size - fixed
	closing := ""
	if attach {
		textSize = 1500
		closing = fmt.Sprintf("\r\n--%s--\r\n", boundary)
	}
	writeText(&rest, rng, textSize)
	if attach {
		fmt.Fprintf(&rest, "--%s\r\n", boundary)
		rest.WriteString("Content-Type: application/pdf; name=\"report.pdf\"\r\n")
		rest.WriteString("Content-Disposition: attachment; filename=\"report.pdf\"\r\n")
		rest.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
		cur := len(head) + 16 + len(mid) + len(dateLayout) + rest.Len()
		left := size - cur - (len(closing) - 2)
		// left bytes of base64 in lines of 76+2: raw = left/78*57.
		raw := make([]byte, max(left, 78)/78*57)
		for i := range raw {
			raw[i] = byte(rng.Uint32())
		}
		enc := base64.StdEncoding.EncodeToString(raw)
		for len(enc) > 0 {
			n := min(76, len(enc))
			rest.WriteString(enc[:n])
			rest.WriteString("\r\n")
			enc = enc[n:]
		}
		rest.WriteString(closing[2:])
	}
	t := &template{head: head, mid: mid, tail: rest.Bytes()}
	t.size = len(t.render(nil))
	return t
}

// writeText writes about n bytes of flowed text in lines of at most 72.
func writeText(b *bytes.Buffer, rng *rand.Rand, n int) {
	start := b.Len()
	line := 0
	for b.Len()-start < n-2 {
		w := words[rng.IntN(len(words))]
		if line > 0 && line+1+len(w) > 72 {
			b.WriteString("\r\n")
			line = 0
			continue
		}
		if line > 0 {
			b.WriteByte(' ')
			line++
		}
		b.WriteString(w)
		line += len(w)
	}
	b.WriteString("\r\n")
}

// render appends one message with a fresh Message-ID and Date to dst.
func (t *template) render(dst []byte) []byte {
	dst = append(dst, t.head...)
	dst = fmt.Appendf(dst, "%016x", msgSeq.Add(1)^0x5eed000000000000)
	dst = append(dst, t.mid...)
	dst = time.Now().AppendFormat(dst, dateLayout)
	dst = append(dst, t.tail...)
	return dst
}
