package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/blobcrypt"
)

// processCPU is the CPU time the process (server and client) used so
// far, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process's CPU per operation since cpu0: on a
// shared machine it varies less than the time.
func reportCPU(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// BenchmarkEncryptionRead measures IMAP FETCH BODY.PEEK[] of a whole
// mailbox and POP3 RETR of every message over loopback against a running
// server, with the bodies in plaintext and encrypted at rest (issue 17 §2:
// within 15%): "encrypted" with the server key, "user-key" sealed to the
// user's own key (the domain in user-key mode; the login unlocks it for
// the session, whose reads after the first pass use the payload keys it
// kept). 100 messages of 10 KiB. Beside the time it reports the process's
// CPU (server and client together) per operation.
func BenchmarkEncryptionRead(b *testing.B) {
	const messages, size = 100, 10 << 10
	for _, mode := range []string{"plain", "encrypted", "user-key"} {
		base := b.TempDir()
		dir := filepath.Join(base, "data")
		settings := map[string]string{"YUBIN_HOSTNAME": "mail.example.test", "YUBIN_LOG_LEVEL": "info", "YUBIN_FILTERS": "none"}
		var sealer *blobcrypt.Sealer
		if mode != "plain" {
			keyPath := filepath.Join(base, "server.key")
			if _, err := blobcrypt.GenerateKeyFile(keyPath); err != nil {
				b.Fatal(err)
			}
			var err error
			if sealer, err = blobcrypt.LoadServerKey(keyPath, dir); err != nil {
				b.Fatal(err)
			}
			settings["YUBIN_ENCRYPTION_KEY_FILE"] = keyPath
		}
		var total int64
		func() {
			ctx := context.Background()
			st, err := mailstore.Open(ctx, mailstore.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler), Sealer: sealer})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			st.CreateDomain(ctx, "example.test")
			if mode == "user-key" {
				m := mailstore.EncryptionUser
				if _, err := st.UpdateDomain(ctx, "example.test", mailstore.DomainUpdate{EncryptionMode: &m}); err != nil {
					b.Fatal(err)
				}
			}
			u, err := st.CreateUser(ctx, mailstore.NewUser{Address: "ann@example.test", Password: "ann-password"})
			if err != nil {
				b.Fatal(err)
			}
			line := strings.Repeat("0123456789abcdef", 4) + "\r\n"
			for i := range messages {
				msg := fmt.Sprintf("From: b@example.org\r\nSubject: bench %d\r\n\r\n%s", i, strings.Repeat(line, size/len(line)))
				total += int64(len(msg))
				if res, err := st.Deliver(ctx, mailstore.Delivery{Targets: []mailstore.DeliveryTarget{{UserID: u.ID}}, Body: strings.NewReader(msg)}); err != nil || res[0].Err != nil {
					b.Fatal(err, res)
				}
			}
		}()
		imapAddr, pop3Addr := freeLoopbackAddr(b), freeLoopbackAddr(b)
		settings["YUBIN_IMAP_ADDR"], settings["YUBIN_POP3_ADDR"] = imapAddr, pop3Addr
		rs := startServe(b, dir, settings)
		rs.waitFor(b, regexp.MustCompile(`yubin is ready`))

		b.Run("imap-fetch/"+mode, func(b *testing.B) {
			c := dialIMAPInbox(b, imapAddr, "ann@example.test", "ann-password")
			defer c.Close()
			whole := &goimap.FetchItemBodySection{Peek: true}
			b.SetBytes(total)
			cpu0 := processCPU()
			for b.Loop() {
				cmd := c.Fetch(goimap.SeqSet{{Start: 1, Stop: 0}}, &goimap.FetchOptions{BodySection: []*goimap.FetchItemBodySection{whole}})
				var got int64
				for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
					for item := msg.Next(); item != nil; item = msg.Next() {
						if body, ok := item.(imapclient.FetchItemDataBodySection); ok {
							n, _ := io.Copy(io.Discard, body.Literal)
							got += n
						}
					}
				}
				if err := cmd.Close(); err != nil || got != total {
					b.Fatalf("FETCH: %d bytes of %d, %v", got, total, err)
				}
			}
			reportCPU(b, cpu0)
		})
		b.Run("pop3-retr/"+mode, func(b *testing.B) {
			p := dialPOP3(b, pop3Addr, "ann@example.test", "ann-password")
			defer p.Close()
			b.SetBytes(total)
			cpu0 := processCPU()
			for b.Loop() {
				for i := 1; i <= messages; i++ {
					p.retr(b, i)
				}
			}
			reportCPU(b, cpu0)
			p.cmd(b, "QUIT")
		})
		rs.stop(b)
	}
}
