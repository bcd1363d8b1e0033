package imapmsg

import (
	"strconv"
	"strings"
	"time"

	"github.com/yubinmail/yubin/core/mimeparse"
)

// zoneOffsets holds the obsolete RFC 5322 zone names, in seconds east of UTC.
var zoneOffsets = map[string]int{
	"ut": 0, "utc": 0, "gmt": 0, "z": 0,
	"est": -5 * 3600, "edt": -4 * 3600,
	"cst": -6 * 3600, "cdt": -5 * 3600,
	"mst": -7 * 3600, "mdt": -6 * 3600,
	"pst": -8 * 3600, "pdt": -7 * 3600,
}

// dateParts accumulates the fields found by parseDate.
type dateParts struct {
	year, month, day      int
	hour, min, sec        int
	offset                int
	haveTime, haveZone    bool
	yearDigits, dayDigits int
}

// parseDate leniently parses an RFC 5322 Date header value: the day of week,
// seconds and zone are optional, fields may be in asctime or ISO order, two-
// digit years are windowed, comments are ignored. ok is false without a
// recognisable day, month and year.
func parseDate(v string) (t time.Time, ok bool) {
	var d dateParts
	s := stripComments(v)
	for _, tok := range strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == '\t' || r == ',' || r == '\r' || r == '\n'
	}) {
		d.token(tok)
	}
	if d.day == 0 || d.month == 0 || d.yearDigits == 0 {
		return time.Time{}, false
	}
	year := d.year
	switch {
	case d.yearDigits <= 2 && year < 50:
		year += 2000
	case d.yearDigits <= 3:
		year += 1900
	}
	if year < 1 || year > 9999 || d.day > 31 || d.hour > 23 || d.min > 59 || d.sec > 60 {
		return time.Time{}, false
	}
	if d.sec == 60 {
		d.sec = 59
	}
	loc := time.UTC
	if d.offset != 0 {
		loc = time.FixedZone("", d.offset)
	}
	return time.Date(year, time.Month(d.month), d.day, d.hour, d.min, d.sec, 0, loc), true
}

// stripComments removes parenthesised comments from s.
func stripComments(s string) string {
	if !strings.Contains(s, "(") {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		i := strings.IndexByte(s, '(')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		b.WriteByte(' ')
		s = mimeparse.SkipComment(s[i:])
	}
	return b.String()
}

// token classifies one whitespace-separated token of a date.
func (d *dateParts) token(tok string) {
	switch {
	case strings.Contains(tok, ":"):
		d.clock(tok)
	case (tok[0] == '+' || tok[0] == '-') && len(tok) == 5 && allDigits(tok[1:]):
		if !d.haveZone {
			h, _ := strconv.Atoi(tok[1:3])
			m, _ := strconv.Atoi(tok[3:5])
			if h <= 23 && m <= 59 {
				d.offset = h*3600 + m*60
				if tok[0] == '-' {
					d.offset = -d.offset
				}
			}
			d.haveZone = true
		}
	case strings.Contains(tok[1:], "-") || strings.Contains(tok, "/"):
		for _, sub := range strings.FieldsFunc(tok, func(r rune) bool { return r == '-' || r == '/' }) {
			d.token(sub)
		}
	case allDigits(tok):
		d.number(tok)
	default:
		d.word(strings.ToLower(tok))
	}
}

// clock parses "hh:mm[:ss]", possibly glued to a numeric zone.
func (d *dateParts) clock(tok string) {
	if d.haveTime {
		return
	}
	if i := strings.IndexAny(tok, "+-"); i > 0 {
		d.token(tok[i:])
		tok = tok[:i]
	}
	fs := strings.Split(tok, ":")
	if len(fs) < 2 || len(fs) > 3 {
		return
	}
	var n [3]int
	for i, f := range fs {
		if i == 2 {
			f, _, _ = strings.Cut(f, ".")
		}
		if f == "" || len(f) > 2 || !allDigits(f) {
			return
		}
		n[i], _ = strconv.Atoi(f)
	}
	d.hour, d.min, d.sec = n[0], n[1], n[2]
	d.haveTime = true
}

// number places a bare number as the month (ISO order), day or year.
func (d *dateParts) number(tok string) {
	if len(tok) > 4 {
		return
	}
	n, _ := strconv.Atoi(tok)
	switch {
	case d.yearDigits == 4 && d.month == 0 && d.dayDigits == 0 && n >= 1 && n <= 12:
		d.month = n
	case d.dayDigits == 0 && len(tok) <= 2 && n >= 1 && n <= 31:
		d.day, d.dayDigits = n, len(tok)
	case d.yearDigits == 0:
		d.year, d.yearDigits = n, len(tok)
	case d.month == 0 && n >= 1 && n <= 12:
		d.month = n
	}
}

// word recognises month names, day names and zone names.
func (d *dateParts) word(w string) {
	if len(w) >= 3 {
		if m := monthIndex(w[:3]); m > 0 && d.month == 0 {
			d.month = m
			return
		}
	}
	if off, ok := zoneOffsets[w]; ok && !d.haveZone {
		d.offset, d.haveZone = off, true
	}
}

// monthIndex returns 1..12 for a three-letter lower-case month name.
func monthIndex(s string) int {
	const names = "janfebmaraprmayjunjulaugsepoctnovdec"
	for i := 0; i < 12; i++ {
		if names[i*3:i*3+3] == s {
			return i + 1
		}
	}
	return 0
}

// allDigits reports whether s is a non-empty string of ASCII digits.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
