package mta

import (
	"strings"
	"testing"
)

// TestIntakeAllocations bounds the allocations of one 4 KiB message through
// the whole intake path, as a sending MTA that keeps its connection open
// makes it: MAIL, RCPT, DATA and RSET on a real socket, then the spool,
// the header scan, the Received field, the durable delivery (the group
// commit) and the reply. They are counted over the whole process (the
// test's small raw client included) by testing.AllocsPerRun, not timed.
// Before the per-message queries were written out (hotsql.go in the
// mailstore) it took about 1,440 allocations per message; now about 690.
func TestIntakeAllocations(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.Filters = acceptAll() })
	rc := ts.raw(t)
	rc.Cmd("EHLO client.example", 250)
	line := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 2)[:78] + "\r\n"
	body := "From: Bench <bench@remote.example>\r\nTo: Ann <ann@example.com>\r\nSubject: allocations\r\n" +
		"Message-ID: <allocs@remote.example>\r\n\r\n" + strings.Repeat(line, 4096/len(line)) + ".\r\n"
	send := func() {
		rc.Cmd("MAIL FROM:<bench@remote.example>", 250)
		rc.Cmd("RCPT TO:<"+ann+">", 250)
		rc.Cmd("DATA", 354)
		rc.Write(body)
		rc.Expect(250)
		rc.Cmd("RSET", 250)
	}
	for range 5 {
		send() // warm: statements prepared, pools filled
	}
	const limit = 850
	perMessage := testing.AllocsPerRun(40, send)
	t.Logf("%.0f allocations per message", perMessage)
	if perMessage > limit {
		t.Errorf("intake makes %.0f allocations per message, more than %d", perMessage, limit)
	}
}
