package imapserver

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// processCPU is the CPU time (user + system) the test process used so far:
// on a shared machine a command's CPU is a steadier figure than its
// wall-clock time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCommands times the single commands of the benchmark's IMAP
// stress mix on a 100-message INBOX (the size of yubin-bench's stress
// mailbox) over a real socket, one session, and reports the process's CPU
// per command (server, store and the raw client together) beside the time.
func BenchmarkCommands(b *testing.B) {
	env := newTestEnv(b, nil)
	for i := 0; i < 100; i++ {
		env.deliver(b, testMessage(fmt.Sprint("stress ", i), "bob@example.org", strings.Repeat("body line\r\n", 300)))
	}
	r := dialRaw(b, env.addr)
	if _, tagged := r.cmd("a", `LOGIN "`+testAddr+`" "`+testPass+`"`); !strings.HasPrefix(tagged, "a OK") {
		b.Fatal(tagged)
	}
	if _, tagged := r.cmd("s", "SELECT INBOX"); !strings.HasPrefix(tagged, "s OK") {
		b.Fatal(tagged)
	}
	run := func(b *testing.B, prepare func(i int), cmd func(i int) string) {
		var cpu time.Duration
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if prepare != nil {
				b.StopTimer()
				prepare(i)
				b.StartTimer()
			}
			c0 := processCPU()
			_, tagged := r.cmd("t", cmd(i))
			cpu += processCPU() - c0
			if !strings.HasPrefix(tagged, "t OK") {
				b.Fatal(tagged)
			}
		}
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
	}
	b.Run("STORE", func(b *testing.B) {
		run(b, nil, func(i int) string {
			op := "+"
			if i%2 == 1 {
				op = "-"
			}
			return fmt.Sprintf(`UID STORE %d %sFLAGS (\Flagged)`, 1+i%100, op)
		})
	})
	b.Run("SELECT", func(b *testing.B) {
		run(b, nil, func(int) string { return "SELECT INBOX" })
	})
	b.Run("FETCH_flags", func(b *testing.B) {
		run(b, nil, func(int) string { return "FETCH 1:* (UID FLAGS)" })
	})
	b.Run("FETCH_envelope", func(b *testing.B) {
		run(b, nil, func(int) string { return "UID FETCH 1:10 (ENVELOPE INTERNALDATE RFC822.SIZE FLAGS)" })
	})
	b.Run("SEARCH_UNSEEN", func(b *testing.B) {
		run(b, nil, func(int) string { return "UID SEARCH UNSEEN" })
	})
	b.Run("SEARCH_FROM", func(b *testing.B) {
		run(b, nil, func(int) string { return `UID SEARCH FROM "bob"` })
	})
	b.Run("SEARCH_HEADER_FROM", func(b *testing.B) {
		run(b, nil, func(int) string { return `UID SEARCH HEADER From "sender"` })
	})
	b.Run("FETCH_body", func(b *testing.B) {
		run(b, nil, func(i int) string { return fmt.Sprintf("UID FETCH %d BODY.PEEK[]", 1+i%100) })
	})
	b.Run("SORT_FROM", func(b *testing.B) {
		run(b, nil, func(int) string { return "UID SORT (FROM) UTF-8 ALL" })
	})
	b.Run("THREAD", func(b *testing.B) {
		run(b, nil, func(int) string { return "UID THREAD REFERENCES UTF-8 ALL" })
	})
	b.Run("LOGIN_LOGOUT", func(b *testing.B) {
		// A session of the login churn: connect, LOGIN, SELECT, LOGOUT.
		var cpu time.Duration
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			c0 := processCPU()
			r := dialRaw(b, env.addr)
			if _, tagged := r.cmd("a", `LOGIN "`+testAddr+`" "`+testPass+`"`); !strings.HasPrefix(tagged, "a OK") {
				b.Fatal(tagged)
			}
			if _, tagged := r.cmd("s", "SELECT INBOX"); !strings.HasPrefix(tagged, "s OK") {
				b.Fatal(tagged)
			}
			if _, tagged := r.cmd("l", "LOGOUT"); !strings.HasPrefix(tagged, "l OK") {
				b.Fatal(tagged)
			}
			r.c.Close()
			cpu += processCPU() - c0
		}
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
	})
	b.Run("EXPUNGE", func(b *testing.B) {
		run(b, func(i int) {
			uid := env.deliver(b, testMessage("expunge me", "carol@example.org", "bye\r\n"))
			if _, tagged := r.cmd("p", fmt.Sprintf(`UID STORE %d +FLAGS.SILENT (\Deleted)`, uid)); !strings.HasPrefix(tagged, "p OK") {
				b.Fatal(tagged)
			}
		}, func(int) string { return "EXPUNGE" })
	})
}
