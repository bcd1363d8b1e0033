package mailstore

import (
	"fmt"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// Listings read date columns as text, CAST(column AS TEXT), and parse them
// here: the SQLite driver parses a date column itself by trying its
// layouts one after the other with time.ParseInLocation, which cost more
// than the rest of a listed message. The text is what the driver wrote
// ("2006-01-02 15:04:05.999999999-07:00"); PostgreSQL gives its own text
// of a timestamp ("2006-01-02 15:04:05.999999+00"), which parses alike.

// parseStoredTime parses a date column's text as the driver would: with
// its zone offset, in UTC when that is zero, and in UTC when it has none.
func parseStoredTime(s string) (time.Time, error) {
	if t, ok := parseISOTime(s); ok {
		return t, nil
	}
	if n := len(s); n > 0 && s[n-1] == 'Z' {
		s = s[:n-1]
	}
	for _, layout := range sqlite3.SQLiteTimestampFormats {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("stored time %q: unknown format", s)
}

// parseISOTime parses "YYYY-MM-DD HH:MM:SS" (or with a T), an optional
// fraction of up to 9 digits, and an optional zone: Z, ±HH, ±HHMM or
// ±HH:MM. ok is false for anything else.
func parseISOTime(s string) (t time.Time, ok bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(0, 4), num(5, 2), num(8, 2)
	hour, minute, sec := num(11, 2), num(14, 2), num(17, 2)
	if year < 0 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	rest := s[19:]
	nsec := 0
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 1 || i > 10 {
			return time.Time{}, false
		}
		nsec = num(20, i-1)
		for range 10 - i {
			nsec *= 10
		}
		rest = rest[i:]
	}
	offset := 0
	switch {
	case rest == "" || rest == "Z":
	case rest[0] == '+' || rest[0] == '-':
		var h, m int
		switch z := rest[1:]; {
		case len(z) == 2:
			h, m = num(len(s)-2, 2), 0
		case len(z) == 4:
			h, m = num(len(s)-4, 2), num(len(s)-2, 2)
		case len(z) == 5 && z[2] == ':':
			h, m = num(len(s)-5, 2), num(len(s)-2, 2)
		default:
			return time.Time{}, false
		}
		if h < 0 || m < 0 || h > 23 || m > 59 {
			return time.Time{}, false
		}
		offset = (h*60 + m) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	loc := time.UTC
	if offset != 0 {
		loc = time.FixedZone("", offset)
	}
	t = time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc)
	if t.Day() != day {
		return time.Time{}, false // 31 February and the like
	}
	return t, true
}
