package sieve

import (
	"fmt"
	"net/mail"
	"strings"
	"time"
)

// dateTest runs date and currentdate (RFC 5260 sections 4 and 5).
func (r *run) dateTest(t *node) (bool, error) {
	partArg := t.args[len(t.args)-2]
	part, err := r.str(partArg.strs[0])
	if err != nil {
		return false, err
	}
	part = strings.ToLower(part)
	if !isDatePart(part) {
		return false, fmt.Errorf("%s: unknown date part %q", t.name, part)
	}
	loc := r.env.Now().Location()
	if z, ok := t.tags["zone"]; ok {
		zs, err := r.str(z.strs[0])
		if err != nil {
			return false, err
		}
		off, ok := parseZone(zs)
		if !ok {
			return false, fmt.Errorf("%s: time zone %q is not of the form +hhmm", t.name, zs)
		}
		loc = time.FixedZone(zs, off)
	}
	var times []time.Time
	if t.name == "currentdate" {
		times = []time.Time{r.env.Now().In(loc)}
	} else {
		name, err := r.str(t.args[0].strs[0])
		if err != nil {
			return false, err
		}
		for _, v := range selectIndex(t, r.hdr.values(name)) {
			if strings.EqualFold(name, "received") {
				// The date of a Received field follows its last ";".
				if i := strings.LastIndexByte(v, ';'); i >= 0 {
					v = v[i+1:]
				}
			}
			d, err := mail.ParseDate(strings.TrimSpace(v))
			if err != nil {
				continue // RFC 5260 section 4: an unparsable date does not match
			}
			if !t.has("originalzone") {
				d = d.In(loc)
			}
			times = append(times, d)
		}
	}
	values := make([]string, 0, len(times))
	for _, d := range times {
		values = append(values, datePart(d, part))
	}
	return r.matchValues(t, values, t.args[len(t.args)-1])
}

// datePart formats one date part (RFC 5260 section 4.2).
func datePart(d time.Time, part string) string {
	switch part {
	case "year":
		return fmt.Sprintf("%04d", d.Year())
	case "month":
		return fmt.Sprintf("%02d", int(d.Month()))
	case "day":
		return fmt.Sprintf("%02d", d.Day())
	case "date":
		return d.Format("2006-01-02")
	case "julian":
		// Modified Julian Day: days since 1858-11-17.
		y, m, day := d.Date()
		civil := time.Date(y, m, day, 0, 0, 0, 0, time.UTC)
		epoch := time.Date(1858, 11, 17, 0, 0, 0, 0, time.UTC)
		return fmt.Sprint(int64(civil.Sub(epoch).Hours()) / 24)
	case "hour":
		return fmt.Sprintf("%02d", d.Hour())
	case "minute":
		return fmt.Sprintf("%02d", d.Minute())
	case "second":
		return fmt.Sprintf("%02d", d.Second())
	case "time":
		return d.Format("15:04:05")
	case "iso8601":
		return d.Format("2006-01-02T15:04:05-07:00")
	case "std11":
		return d.Format("Mon, 02 Jan 2006 15:04:05 -0700")
	case "zone":
		return d.Format("-0700")
	case "weekday":
		return fmt.Sprint(int(d.Weekday()))
	}
	return ""
}
