package mailstore

import (
	"testing"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// TestParseStoredTime checks the fast parse against what the SQLite
// driver gives for the same text (time.ParseInLocation over its layouts),
// instant and zone offset alike, and PostgreSQL's text of a timestamp.
func TestParseStoredTime(t *testing.T) {
	driver := func(s string) time.Time {
		for _, layout := range sqlite3.SQLiteTimestampFormats {
			if v, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
				return v
			}
		}
		t.Fatalf("the driver cannot parse %q", s)
		return time.Time{}
	}
	for _, s := range []string{
		"2026-12-07 17:20:00+00:00",
		"2026-12-07 17:20:00.123456789+00:00",
		"2026-12-07 17:20:00.5-07:00",
		"2024-02-29 23:59:59+05:30",
		"2026-12-07T17:20:00+09:00",
		"2026-12-07 17:20:00",
		"2026-12-07 17:20",
		"2026-12-07",
		time.Date(2001, 2, 3, 4, 5, 6, 7, time.FixedZone("x", -3*3600-1800)).Format(sqlite3.SQLiteTimestampFormats[0]),
	} {
		got, err := parseStoredTime(s)
		want := driver(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: %v (%v), want %v", s, got, err, want)
			continue
		}
		_, gotOff := got.Zone()
		_, wantOff := want.Zone()
		if gotOff != wantOff || (gotOff == 0) != (got.Location() == time.UTC) {
			t.Errorf("%q: zone %v %d, want %v %d", s, got.Location(), gotOff, want.Location(), wantOff)
		}
	}
	for s, want := range map[string]time.Time{
		"2026-12-07 17:20:00.123456+00": time.Date(2026, 12, 7, 17, 20, 0, 123456000, time.UTC),
		"2026-12-07 17:20:00Z":          time.Date(2026, 12, 7, 17, 20, 0, 0, time.UTC),
		"2026-12-07 17:20:00+0100":      time.Date(2026, 12, 7, 16, 20, 0, 0, time.UTC),
	} {
		if got, err := parseStoredTime(s); err != nil || !got.Equal(want) {
			t.Errorf("%q: %v (%v), want %v", s, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2026-02-30 10:00:00", "2026-12-07 25:00:00", "2026-12-07 17:20:00+1"} {
		if got, err := parseStoredTime(bad); err == nil {
			t.Errorf("%q parsed as %v", bad, got)
		}
	}
}
