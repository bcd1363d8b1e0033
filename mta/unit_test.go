package mta

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/yubinmail/yubin/core"
)

func TestScanHeader(t *testing.T) {
	removeAR := func(n string) bool {
		return strings.EqualFold(n, "Authentication-Results") || strings.EqualFold(n, "X-Drop")
	}
	tests := []struct {
		name     string
		msg      string
		received int
		kept     string // the message without the dropped ranges
		end      int
	}{
		{"plain", "A: 1\r\nB: 2\r\n\r\nbody\r\n", 0, "A: 1\r\nB: 2\r\n\r\nbody\r\n", 12},
		{"received counted", "Received: a\r\n\tb\r\nreceived : c\r\nX: Received\r\n\r\nReceived: body\r\n", 2, "", 44},
		{"removed with continuations", "A: 1\r\nAuthentication-Results: x;\r\n dkim=pass\r\n\tspf=pass\r\nB: 2\r\nx-drop: y\r\n\r\nX-Drop: body\r\n", 0,
			"A: 1\r\nB: 2\r\n\r\nX-Drop: body\r\n", 74},
		{"adjacent removals merge", "X-Drop: 1\r\nX-Drop: 2\r\nA: 1\r\n\r\n", 0, "A: 1\r\n\r\n", 28},
		{"bare LF", "X-Drop: 1\n cont\nA: 1\n\nbody\n", 0, "A: 1\n\nbody\n", 21},
		{"no body", "A: 1\r\nX-Drop: 2", 0, "A: 1\r\n", 15},
		// A line that is no field does not end the header: fields after
		// it are seen (and removed) all the same.
		{"malformed line skipped", "A: 1\r\nnot a field\r\n cont\r\nX-Drop: 2\r\n\r\nX-Drop: body\r\n", 0, "A: 1\r\nnot a field\r\n cont\r\n\r\nX-Drop: body\r\n", 37},
		{"malformed first line", "not a field\r\nX-Drop: 2\r\n\r\n", 0, "not a field\r\n\r\n", 24},
		{"space before colon", "From : a@example.com\r\nX-Drop : 2\r\n\r\n", 0, "From : a@example.com\r\n\r\n", 34},
		{"leading continuation dropped", " evil: forged\r\n\tmore\r\nA: 1\r\n\r\nb\r\n", 0, "A: 1\r\n\r\nb\r\n", 28},
		{"empty header", "\r\nbody\r\n", 0, "\r\nbody\r\n", 0},
		{"empty message", "", 0, "", 0},
		{"space in name", "Bad Name: 1\r\nX-Drop: 2\r\n", 0, "Bad Name: 1\r\n", 24},
		{"long line", "X-Drop: " + strings.Repeat("v", 10000) + "\r\nA: 1\r\n\r\n", 0, "A: 1\r\n\r\n", 10016},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs, err := scanHeader(iotest.OneByteReader(strings.NewReader(tt.msg)), maxHeaderBytes, removeAR, false)
			if err != nil {
				t.Fatal(err)
			}
			if hs.received != tt.received {
				t.Errorf("received = %d, want %d", hs.received, tt.received)
			}
			if tt.kept != "" || tt.msg == "" {
				sp := newSpool(t.TempDir(), 1<<20, 1<<20)
				if _, err := sp.ReadFrom(strings.NewReader(tt.msg)); err != nil {
					t.Fatal(err)
				}
				r, size := assemble("", sp, hs.drop)
				got, _ := io.ReadAll(r)
				if string(got) != tt.kept || size != int64(len(tt.kept)) {
					t.Errorf("kept %q (size %d), want %q", got, size, tt.kept)
				}
			}
			if hs.end != int64(tt.end) || !hs.complete {
				t.Errorf("end = %d (complete %v), want %d", hs.end, hs.complete, tt.end)
			}
		})
	}
}

func TestScanHeaderLimit(t *testing.T) {
	msg := strings.Repeat("Received: x\r\n", 1000) + "\r\n"
	hs, err := scanHeader(strings.NewReader(msg), 130, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if hs.complete || hs.end != 130 {
		t.Fatalf("complete %v, end %d", hs.complete, hs.end)
	}
	hs, err = scanHeader(strings.NewReader(msg), int64(len(msg)), nil, false)
	if err != nil || !hs.complete || hs.received != 1000 {
		t.Fatalf("complete %v, received %d, err %v", hs.complete, hs.received, err)
	}
}

// TestParseFields checks that the filters' header has every field of the
// header, also those after lines that are not fields, and names written
// with a blank before the colon.
func TestParseFields(t *testing.T) {
	msg := "Subject: s\r\nnot a field\r\n more of it\r\nFrom : a@example.com\r\nX-Long: a\r\n b\r\nFrom: b@example.com\r\n\r\nFrom: body@example.com\r\n"
	hs, err := scanHeader(strings.NewReader(msg), maxHeaderBytes, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if hs.malformed != 1 {
		t.Errorf("%d malformed lines counted, want 1", hs.malformed)
	}
	h := parseFields(hs.fields)
	if got := h.Values("From"); len(got) != 2 || got[0] != "a@example.com" || got[1] != "b@example.com" {
		t.Errorf("From fields %q", got)
	}
	if h.Get("Subject") != "s" || h.Get("X-Long") != "a b" || h.Len() != 4 {
		t.Errorf("header %v (%d fields)", h.Map(), h.Len())
	}
}

// TestScanHeaderMalformed checks what counts as a line that is no field:
// an mbox From line does, a From field with a blank before the colon does
// not; 8-bit bytes never make a field name (core/mimeparse reads headers
// for the MTA as for the filters and the IMAP server).
func TestScanHeaderMalformed(t *testing.T) {
	tests := []struct {
		msg       string
		malformed int
		fields    int
	}{
		{"From ann@example.com Mon Jan 1\r\nSubject: x\r\n\r\nbody", 1, 1},
		{"From : ann@example.com\r\nSubject: x\r\n\r\nbody", 0, 2},
		{"X-F\xfc\xfc: bar\r\nSubject: x\r\n\r\nbody", 1, 1},
		{"Subject: x\r\nno field\r\nFrom: late@example.com\r\n\r\nbody", 1, 2},
	}
	for _, tt := range tests {
		hs, err := scanHeader(strings.NewReader(tt.msg), maxHeaderBytes, nil, true)
		if err != nil {
			t.Fatal(err)
		}
		if h := parseFields(hs.fields); hs.malformed != tt.malformed || h.Len() != tt.fields {
			t.Errorf("%q: %d malformed, %d fields; want %d, %d", tt.msg, hs.malformed, h.Len(), tt.malformed, tt.fields)
		}
	}
}

func TestScanHeaderReadError(t *testing.T) {
	_, err := scanHeader(iotest.ErrReader(errors.New("disk on fire")), maxHeaderBytes, nil, true)
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("got %v", err)
	}
}

func TestFormatField(t *testing.T) {
	tests := []struct{ name, value, want string }{
		{"X-A", "simple", "X-A: simple\r\n"},
		{"X-A", "", "X-A:\r\n"},
		{"X-A", "two\r\nlines", "X-A: two lines\r\n"},
		{"X-A", "inject\r\nBcc: victim@example.com", "X-A: inject Bcc: victim@example.com\r\n"},
		{"X-A", "nul\x00and\x7fdel", "X-A: nul and del\r\n"},
		{"X-A", strings.Repeat("abcdefghi ", 10), "X-A: abcdefghi abcdefghi abcdefghi abcdefghi abcdefghi abcdefghi abcdefghi\r\n\tabcdefghi abcdefghi abcdefghi\r\n"},
		{"X-A", strings.Repeat("z", 100), "X-A: " + strings.Repeat("z", 100) + "\r\n"},
	}
	for _, tt := range tests {
		got, ok := formatField(tt.name, tt.value)
		if !ok || got != tt.want {
			t.Errorf("formatField(%q, %q) = %q, %v; want %q", tt.name, tt.value, got, ok, tt.want)
		}
	}
	for _, bad := range []string{"", "Has Space", "Colon:", "Ümlaut", "Tab\t"} {
		if _, ok := formatField(bad, "v"); ok {
			t.Errorf("formatField accepted name %q", bad)
		}
	}
}

func TestReceived(t *testing.T) {
	date := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	ti := traceInfo{
		helo: "mail.remote.example", remote: netip.MustParseAddr("2001:db8::25"), hostname: "mx.example.com",
		tls: &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256},
		id:  "ABCDEFGHIJKLMNOP", rcpt: "ann@example.com", date: date,
	}
	want := "Received: from mail.remote.example ([IPv6:2001:db8::25])\r\n" +
		"\tby mx.example.com (Yubin) with ESMTPS\r\n" +
		"\t(version=TLS1.3 cipher=TLS_AES_128_GCM_SHA256)\r\n" +
		"\tid ABCDEFGHIJKLMNOP\r\n" +
		"\tfor <ann@example.com>; Wed, 04 Mar 2026 05:06:07 +0000\r\n"
	if got := ti.received(); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	protos := []struct {
		tls, auth, utf8 bool
		want            string
	}{
		{false, false, false, "ESMTP"}, {true, false, false, "ESMTPS"}, {false, true, false, "ESMTPA"},
		{true, true, false, "ESMTPSA"}, {false, false, true, "UTF8SMTP"}, {true, false, true, "UTF8SMTPS"}, {true, true, true, "UTF8SMTPSA"},
	}
	for _, p := range protos {
		ti := traceInfo{auth: p.auth, utf8: p.utf8}
		if p.tls {
			ti.tls = &tls.ConnectionState{}
		}
		if got := ti.protocol(); got != p.want {
			t.Errorf("protocol(tls=%v auth=%v utf8=%v) = %s, want %s", p.tls, p.auth, p.utf8, got, p.want)
		}
	}
}

func TestAddressLiteralAndHELO(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":        "[192.0.2.1]",
		"::ffff:192.0.2.1": "[192.0.2.1]",
		"2001:db8::1":      "[IPv6:2001:db8::1]",
	} {
		if got := addressLiteral(netip.MustParseAddr(in)); got != want {
			t.Errorf("addressLiteral(%s) = %s, want %s", in, got, want)
		}
	}
	if got := addressLiteral(netip.Addr{}); got != "[unknown]" {
		t.Errorf("invalid address: %s", got)
	}
	for in, want := range map[string]string{
		"mail.example.com":         "mail.example.com",
		"[192.0.2.1]":              "[192.0.2.1]",
		"evil)\r\n\tby forged (me": "evil????by?forged??me",
		"":                         "unknown",
		"ünïcode":                  "??n??code",
	} {
		if got := cleanHELO(in); got != want {
			t.Errorf("cleanHELO(%q) = %q, want %q", in, got, want)
		}
	}
	if got := cleanHELO(strings.Repeat("a", 300)); len(got) != 255 {
		t.Errorf("long HELO kept %d characters", len(got))
	}
}

func TestSpool(t *testing.T) {
	dir := t.TempDir()
	data := strings.Repeat("0123456789", 1000) // 10 000 bytes
	for _, memMax := range []int64{1 << 20, 4096, 0} {
		sp := newSpool(dir, 1<<20, memMax)
		n, err := sp.ReadFrom(iotest.HalfReader(strings.NewReader(data)))
		if err != nil || n != int64(len(data)) || sp.Size() != n {
			t.Fatalf("memMax %d: ReadFrom = %d, %v", memMax, n, err)
		}
		entries, _ := os.ReadDir(dir)
		if wantFile := memMax < int64(len(data)); (len(entries) == 1) != wantFile {
			t.Errorf("memMax %d: %d files in the spool folder", memMax, len(entries))
		}
		for _, e := range entries { // encrypted on disk (issue 17 §2)
			if b, _ := os.ReadFile(filepath.Join(dir, e.Name())); len(b) != len(data) || strings.Contains(string(b), "0123456789") {
				t.Errorf("memMax %d: spool file of %d bytes holds the message's text", memMax, len(b))
			}
		}
		if err := iotest.TestReader(sp.Reader(), []byte(data)); err != nil {
			t.Errorf("memMax %d: %v", memMax, err)
		}
		got, _ := io.ReadAll(sp.Section(9995, 100))
		if string(got) != "56789" {
			t.Errorf("memMax %d: section %q", memMax, got)
		}
		if err := sp.Close(); err != nil {
			t.Fatal(err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("memMax %d: file left behind", memMax)
		}
	}
	// A straggling reader after Close gets an error, not a crash or a race.
	for _, memMax := range []int64{1 << 20, 0} {
		sp := newSpool(dir, 1<<20, memMax)
		if _, err := sp.ReadFrom(strings.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			for {
				if _, err := io.Copy(io.Discard, sp.Reader()); err != nil {
					done <- err
					return
				}
			}
		}()
		time.Sleep(time.Millisecond)
		if err := sp.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, os.ErrClosed) {
			t.Errorf("memMax %d: read after Close: %v", memMax, err)
		}
	}
	sp := newSpool(dir, 5000, 1000)
	defer sp.Close()
	if _, err := sp.ReadFrom(strings.NewReader(data)); !errors.Is(err, core.ErrTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	bad := newSpool(dir+"/missing", 1<<20, 10)
	if _, err := bad.ReadFrom(strings.NewReader(data)); err == nil {
		t.Fatal("spooling into a missing folder succeeded")
	}
}

func TestSenderSyntax(t *testing.T) {
	for _, ok := range []string{"a@example.com", "a@[192.0.2.1]", "a@[IPv6:2001:db8::1]", "用户@例え.jp"} {
		if err := checkSender(ok); err != nil {
			t.Errorf("checkSender(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"a", "a@b", "a..b@example.com", "a@[not an ip]", "a b@[192.0.2.1]", "@[192.0.2.1]"} {
		if err := checkSender(bad); err == nil {
			t.Errorf("checkSender(%q) accepted", bad)
		}
	}
}

// TestSpoolBlocks checks a message that spans several of the spool's
// blocks in memory, and one that spills to a file after several blocks.
func TestSpoolBlocks(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := 0; b.Len() < 100_000; i++ {
		fmt.Fprintf(&b, "line %d of the message\r\n", i)
	}
	data := b.String()
	for _, memMax := range []int64{1 << 20, 3*spoolBlockSize + 100} {
		sp := newSpool(dir, 1<<20, memMax)
		if n, err := sp.ReadFrom(iotest.HalfReader(strings.NewReader(data))); err != nil || n != int64(len(data)) {
			t.Fatalf("memMax %d: ReadFrom = %d, %v", memMax, n, err)
		}
		if err := iotest.TestReader(sp.Reader(), []byte(data)); err != nil {
			t.Errorf("memMax %d: %v", memMax, err)
		}
		off := int64(2*spoolBlockSize - 7) // across a block boundary
		got, _ := io.ReadAll(sp.Section(off, 20))
		if string(got) != data[off:off+20] {
			t.Errorf("memMax %d: section %q, want %q", memMax, got, data[off:off+20])
		}
		if err := sp.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
