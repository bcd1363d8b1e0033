package importer

import (
	"bufio"
	"bytes"
	"io"
	"net/mail"
	"strings"
	"time"

	"github.com/yubinmail/yubin/mailstore"
)

// MboxEntry is one message of an mbox file as it is stored: its "From "
// line and its lines after it, still quoted.
type MboxEntry struct {
	FromLine string
	// Offset is where the From line starts in the file.
	Offset int64
	// Raw is the message's bytes up to the blank line that ends it.
	Raw []byte
}

// maxMboxLine caps one line of an mbox file (a line longer than that is
// still read, in pieces).
const maxMboxLine = 64 * 1024

// ParseMbox splits an mbox file into its messages (mboxo, mboxrd and the
// variants that mail clients write): a message starts with a line that
// begins "From " at the start of the file or after an empty line, and ends
// with the empty line before the next one. Bytes before the first From
// line are ignored. fn gets each message in turn; its Raw is only valid
// during the call.
func ParseMbox(r io.Reader, fn func(*MboxEntry) error) error {
	br := bufio.NewReaderSize(r, maxMboxLine)
	var (
		cur       *MboxEntry
		buf       bytes.Buffer
		off       int64
		prevEmpty = true
		atLineEnd = true
	)
	emit := func() error {
		if cur == nil {
			return nil
		}
		raw := buf.Bytes()
		// The empty line before the next From line is the separator.
		switch {
		case bytes.HasSuffix(raw, []byte("\r\n\r\n")):
			raw = raw[:len(raw)-2]
		case bytes.HasSuffix(raw, []byte("\n\n")):
			raw = raw[:len(raw)-1]
		}
		cur.Raw = raw
		err := fn(cur)
		cur = nil
		buf.Reset()
		return err
	}
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			err = nil
		}
		if len(line) > 0 {
			start := atLineEnd
			atLineEnd = line[len(line)-1] == '\n'
			if start && prevEmpty && bytes.HasPrefix(line, []byte("From ")) {
				if eerr := emit(); eerr != nil {
					return eerr
				}
				from := strings.TrimRight(string(line), "\r\n")
				fromOff := off
				for !atLineEnd { // an overlong From line: keep its start
					more, merr := br.ReadSlice('\n')
					atLineEnd = len(more) > 0 && more[len(more)-1] == '\n' || merr != nil && merr != bufio.ErrBufferFull
					off += int64(len(more))
					if merr != nil && merr != bufio.ErrBufferFull {
						break
					}
				}
				cur = &MboxEntry{FromLine: from, Offset: fromOff}
				prevEmpty = false
			} else if cur != nil {
				buf.Write(line)
			}
			if start && atLineEnd {
				prevEmpty = len(bytes.TrimRight(line, "\r\n")) == 0
			} else if !start || !atLineEnd {
				prevEmpty = false
			}
			off += int64(len(line))
		}
		if err == io.EOF {
			return emit()
		}
		if err != nil {
			return err
		}
	}
}

// MboxMessage turns an mbox entry into the message it holds: the quoted
// lines unquoted (mboxrd: ">From ", ">>From ", ... lose one ">"; in mboxo
// only ">From " was quoted, and unquoting it is the same), line ends made
// CRLF; the flags from the Status (R: \Seen) and X-Status (A: \Answered,
// F: \Flagged, T: \Draft, D: \Deleted) header fields and the keywords of
// X-Keywords; the internal date from the From line, else the Date field.
// The header fields stay in the message as they are.
func MboxMessage(e *MboxEntry) *Message {
	var body bytes.Buffer
	body.Grow(len(e.Raw) + len(e.Raw)/30)
	var header bytes.Buffer
	inHeader := true
	rest := e.Raw
	for len(rest) > 0 {
		var line []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i+1], rest[i+1:]
		} else {
			line, rest = rest, nil
		}
		text, hasEnd := bytes.CutSuffix(line, []byte("\n"))
		if t, cr := bytes.CutSuffix(text, []byte("\r")); cr {
			text, hasEnd = t, true
		}
		if inHeader {
			if len(text) == 0 {
				inHeader = false
			} else {
				header.Write(text)
				header.WriteString("\r\n")
			}
		}
		if q := bytes.TrimLeft(text, ">"); len(q) < len(text) && bytes.HasPrefix(q, []byte("From ")) {
			text = text[1:]
		}
		body.Write(text)
		if hasEnd {
			body.WriteString("\r\n")
		}
	}
	header.WriteString("\r\n")
	m := &Message{Body: body.Bytes(), Date: mboxFromDate(e.FromLine)}
	hdr, err := mail.ReadMessage(&header)
	if err != nil {
		return m
	}
	for _, c := range hdr.Header.Get("Status") {
		if c == 'R' {
			m.Flags = appendFlag(m.Flags, mailstore.FlagSeen)
		}
	}
	for _, c := range hdr.Header.Get("X-Status") {
		switch c {
		case 'A':
			m.Flags = appendFlag(m.Flags, mailstore.FlagAnswered)
		case 'F':
			m.Flags = appendFlag(m.Flags, mailstore.FlagFlagged)
		case 'T':
			m.Flags = appendFlag(m.Flags, mailstore.FlagDraft)
		case 'D':
			m.Flags = appendFlag(m.Flags, mailstore.FlagDeleted)
		}
	}
	for _, kw := range strings.FieldsFunc(hdr.Header.Get("X-Keywords"), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		m.Flags = appendFlag(m.Flags, kw)
	}
	if m.Date.IsZero() {
		if d, err := mail.ParseDate(hdr.Header.Get("Date")); err == nil {
			m.Date = d
		}
	}
	return m
}

// fromLineLayouts are the date formats of From lines (asctime, with or
// without a zone).
var fromLineLayouts = []string{
	"Mon Jan _2 15:04:05 2006",
	"Mon Jan _2 15:04:05 -0700 2006",
	"Mon Jan _2 15:04:05 MST 2006",
	"Mon Jan _2 15:04:05 2006 -0700",
	"Mon Jan _2 15:04 2006",
	"Mon, _2 Jan 2006 15:04:05 -0700",
}

// mboxFromDate reads the date of a From line ("From sender DATE"); zero if
// it has none. A date without a zone is taken as UTC.
func mboxFromDate(line string) time.Time {
	fields := strings.Fields(line)
	// The sender may hold spaces (quoted): try the date in the last 4 to
	// 6 fields.
	for n := 4; n <= 6 && n < len(fields); n++ {
		s := strings.Join(fields[len(fields)-n:], " ")
		for _, layout := range fromLineLayouts {
			if t, err := time.Parse(layout, s); err == nil {
				return t
			}
		}
	}
	return time.Time{}
}
