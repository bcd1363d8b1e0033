package imapmsg

import (
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// benchMessage returns a typical 4.7 KB multipart/alternative message.
func benchMessage() []byte {
	var b strings.Builder
	b.WriteString(crlf(
		"Return-Path: <newsletter@example.com>",
		"Received: from mx.example.com (mx.example.com [192.0.2.1]) by mail.example.org with ESMTPS id abc123 for <user@example.org>; Mon, 02 Jan 2006 15:04:05 -0700",
		"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=sel; h=from:to:subject:date; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZQ==",
		"From: \"Example News\" <newsletter@example.com>",
		"To: User <user@example.org>",
		"Subject: =?UTF-8?Q?Weekly_news_=E2=80=94_issue_42?=",
		"Date: Mon, 02 Jan 2006 15:04:05 -0700",
		"Message-ID: <issue42@example.com>",
		"MIME-Version: 1.0",
		`Content-Type: multipart/alternative; boundary="=_bench_boundary"`,
		"",
		"--=_bench_boundary",
		"Content-Type: text/plain; charset=utf-8",
		"Content-Transfer-Encoding: quoted-printable",
		"",
	))
	line := "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n"
	for b.Len() < 2600 {
		b.WriteString(line)
	}
	b.WriteString(crlf("", "--=_bench_boundary", "Content-Type: text/html; charset=utf-8", ""))
	for b.Len() < 4650 {
		b.WriteString("<p>" + strings.TrimSuffix(line, "\r\n") + "</p>\r\n")
	}
	b.WriteString("--=_bench_boundary--\r\n")
	return []byte(b.String())
}

// benchFetch serves b.N copies of raw and fetches them all with options,
// draining literals as a streaming client would. setBytes makes MB/s count
// message bytes.
func benchFetch(b *testing.B, raw []byte, options *imap.FetchOptions, setBytes bool) {
	msg := newTestMsg(raw)
	msgs := make([]*testMsg, b.N)
	for i := range msgs {
		msgs[i] = msg
	}
	srv := startServer(b, msgs)
	c := srv.dial(b)
	if setBytes {
		b.SetBytes(int64(len(raw)))
	}
	b.ReportAllocs()
	b.ResetTimer()

	cmd := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, options)
	n := 0
	for m := cmd.Next(); m != nil; m = cmd.Next() {
		for item := m.Next(); item != nil; item = m.Next() {
			if s, ok := item.(imapclient.FetchItemDataBodySection); ok {
				if _, err := io.Copy(io.Discard, s.Literal); err != nil {
					b.Fatalf("read literal: %v", err)
				}
			}
		}
		n++
	}
	if err := cmd.Close(); err != nil {
		b.Fatalf("fetch: %v", err)
	}
	b.StopTimer()
	if n != b.N {
		b.Fatalf("got %d messages, want %d", n, b.N)
	}
}

// BenchmarkFetchBodyPeek measures the streaming FETCH 1:* BODY.PEEK[] path;
// MB/s counts message bytes.
func BenchmarkFetchBodyPeek(b *testing.B) {
	benchFetch(b, benchMessage(), &imap.FetchOptions{
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}, true)
}

// BenchmarkFetchFlags measures FETCH 1:* (UID FLAGS), which never opens a
// message.
func BenchmarkFetchFlags(b *testing.B) {
	benchFetch(b, benchMessage(), &imap.FetchOptions{UID: true, Flags: true}, false)
}

// BenchmarkFetchEnvelope measures FETCH 1:* ENVELOPE, which reads and
// parses every message.
func BenchmarkFetchEnvelope(b *testing.B) {
	benchFetch(b, benchMessage(), &imap.FetchOptions{Envelope: true}, false)
}

// BenchmarkFetchBodyStructure measures FETCH 1:* BODYSTRUCTURE.
func BenchmarkFetchBodyStructure(b *testing.B) {
	benchFetch(b, benchMessage(), &imap.FetchOptions{BodyStructure: &imap.FetchItemBodyStructure{Extended: true}}, false)
}

// BenchmarkParse measures parsing a message into its structure, with and
// without building the BODYSTRUCTURE and ENVELOPE.
func BenchmarkParse(b *testing.B) {
	raw := benchMessage()
	b.Run("structure", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			Parse(raw)
		}
	})
	b.Run("bodystructure+envelope", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			m := Parse(raw)
			m.BodyStructure(true)
			m.Envelope()
		}
	})
}

// BenchmarkMatchBody measures a BODY search over one message.
func BenchmarkMatchBody(b *testing.B) {
	raw := benchMessage()
	msg := newTestMsg(raw)
	c := &imap.SearchCriteria{Body: []string{"not present anywhere"}}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Match(c, msg.facts(1), msg.opener(), SearchContext{}); err != nil {
			b.Fatal(err)
		}
	}
}
