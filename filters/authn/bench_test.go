package authn

import (
	"context"
	"crypto"
	"fmt"
	"strings"
	"testing"

	"github.com/foxcpp/go-mockdns"

	"github.com/yubinmail/yubin/filters"
)

// benchZones are the DNS zones of the benchmarks: SPF pass for 127.0.0.1,
// DMARC p=reject, and the rsa and ed DKIM keys.
func benchZones() map[string]mockdns.Zone {
	return map[string]mockdns.Zone{
		"bench.example.":                {TXT: []string{"v=spf1 ip4:127.0.0.1 -all"}},
		"_dmarc.bench.example.":         {TXT: []string{"v=DMARC1; p=reject"}},
		"rsa._domainkey.bench.example.": {TXT: []string{rsaRecord()}},
		"ed._domainkey.bench.example.":  {TXT: []string{edRecord()}},
	}
}

// benchMail returns a message of about 4 KB from alice@bench.example,
// signed by signer with selector.
func benchMail(b *testing.B, selector string, signer crypto.Signer) string {
	var body strings.Builder
	for i := 0; body.Len() < 3800; i++ {
		fmt.Fprintf(&body, "Line %d of the benchmark message, with some text to canonicalize.  \n", i)
	}
	raw := crlf("From: Alice <alice@bench.example>\n" +
		"To: bob@yubin.test\n" +
		"Subject: Quarterly report\n" +
		"Date: Mon, 02 Jan 2006 15:04:05 +0000\n" +
		"Message-ID: <bench@bench.example>\n" +
		"MIME-Version: 1.0\n" +
		"Content-Type: text/plain; charset=utf-8\n" +
		"\n" + body.String())
	return sign(b, raw, "bench.example", selector, signer)
}

func benchmarkCheck(b *testing.B, selector string, signer crypto.Signer) {
	a := New(Options{Resolver: startDNS(b, benchZones()), Hostname: "mx.yubin.test"})
	raw := benchMail(b, selector, signer)
	ctx := context.Background()
	// The message is parsed once: filters.NewMessage is not ours to measure.
	msg := message(raw, "127.0.0.1", "client.bench.example", "alice@bench.example")
	run := func() filters.Verdict {
		if v, err := a.CheckSender(ctx, msg.Conn, msg.Envelope.MailFrom); err != nil || v.Action != filters.Accept {
			b.Fatalf("CheckSender = %+v, %v", v, err)
		}
		v, err := a.Check(ctx, msg)
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
	v := run() // warm the DNS cache
	want := "mx.yubin.test; spf=pass smtp.mailfrom=alice@bench.example; dkim=pass"
	if v.Action != filters.Accept || !strings.HasPrefix(v.AddHeaders[0].Value, want) ||
		!strings.Contains(v.AddHeaders[0].Value, "dmarc=pass") {
		b.Fatalf("verdict %+v", v)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	// CPU time per message, of all goroutines (GC included): steadier
	// than the wall time on a busy machine.
	cpu := processCPUTime()
	n := 0
	for b.Loop() {
		run()
		n++
	}
	if cpu > 0 {
		b.ReportMetric(float64(processCPUTime()-cpu)/float64(n), "cpu-ns/op")
	}
}

// BenchmarkCheck measures CheckSender and Check of a 4 KB message with a
// passing DKIM signature, SPF pass and DMARC p=reject.
func BenchmarkCheck(b *testing.B) {
	b.Run("rsa2048", func(b *testing.B) { benchmarkCheck(b, "rsa", rsaKey()) })
	b.Run("ed25519", func(b *testing.B) { benchmarkCheck(b, "ed", edKey()) })
}
