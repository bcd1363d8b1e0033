package imapmsg

import (
	"strings"
)

// crlf joins lines with CRLF, ending with CRLF.
func crlf(lines ...string) string {
	return strings.Join(lines, "\r\n") + "\r\n"
}

// Well-formed messages.
var (
	msgSimple = crlf(
		"Return-Path: <alice@example.com>",
		"From: Alice Example <alice@example.com>",
		"To: Bob <bob@example.org>, carol@example.net",
		`Cc: "Doe, John" <john@example.com>`,
		"Subject: Hello world",
		"Date: Mon, 02 Jan 2006 15:04:05 -0700",
		"Message-ID: <simple@example.com>",
		"In-Reply-To: <parent@example.com>",
		"Content-Type: text/plain; charset=us-ascii",
		"",
		"Hello Bob,",
		"this is a test.",
	)
	simpleHeader = msgSimple[:strings.Index(msgSimple, "\r\n\r\n")+4]
	simpleBody   = "Hello Bob,\r\nthis is a test.\r\n"

	altText = crlf("Caf=C3=A9 au lait =", "soft break.")
	altHTML = crlf("<p>Hello <b>HTML</b></p>")
	msgAlt  = crlf(
		"From: a@example.com",
		"Subject: alternative",
		"MIME-Version: 1.0",
		`Content-Type: multipart/alternative; boundary="ALT"`,
		"",
		"This is the preamble.",
		"--ALT",
		"Content-Type: text/plain; charset=utf-8",
		"Content-Transfer-Encoding: quoted-printable",
		"",
	) + altText + crlf(
		"--ALT",
		"Content-Type: text/html; charset=utf-8",
		"",
	) + altHTML + crlf(
		"--ALT--",
		"This is the epilogue.",
	)
	altPart1MIME = crlf("Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable", "")
	altPart1     = strings.TrimSuffix(altText, "\r\n")
	altPart2     = strings.TrimSuffix(altHTML, "\r\n")

	pdfBytes  = "%PDF-1.4\x00\x01\x02\xff binary \r\n data"
	pdfBase64 = "JVBERi0xLjQAAQL/IGJpbmFyeSANCiBkYXRh"
	msgMixed  = crlf(
		"From: Sender <sender@example.com>",
		"To: rcpt@example.com",
		"Subject: report",
		"Content-Type: multipart/mixed; boundary=MIX",
		"",
		"--MIX",
		"Content-Type: text/plain",
		"",
		"See attached.",
		"--MIX",
		`Content-Type: application/pdf; name="report.pdf"`,
		"Content-Transfer-Encoding: base64",
		`Content-Disposition: attachment; filename="report.pdf"; size=28`,
		"Content-ID: <pdf1@example.com>",
		"Content-Description: Quarterly report",
		"Content-Language: en, de (German)",
		"Content-Location: http://example.com/",
		" report.pdf",
		"",
		pdfBase64[:20],
		pdfBase64[20:],
		"--MIX--",
	)

	msgNested = crlf(
		"From: n@example.com",
		"Subject: nested",
		`Content-Type: multipart/mixed; boundary="outer"`,
		"",
		"--outer",
		`Content-Type: multipart/alternative; boundary="inner"`,
		"",
		"--inner",
		"Content-Type: text/plain",
		"",
		"plain body",
		"--inner",
		"Content-Type: text/html",
		"",
		"<p>html body</p>",
		"--inner--",
		"",
		"--outer",
		"Content-Type: image/png",
		"Content-Transfer-Encoding: base64",
		"",
		"iVBORw0KGgo=",
		"--outer--",
	)

	embedded = crlf(
		"From: Inner Sender <inner@example.com>",
		"To: inner-rcpt@example.com",
		"Subject: inner subject",
		"Date: Tue, 3 Jan 2006 10:00:00 +0000",
		"Message-ID: <inner@example.com>",
		"Content-Type: multipart/alternative; boundary=EMB",
		"",
		"--EMB",
		"Content-Type: text/plain",
		"",
		"inner plain",
		"--EMB",
		"Content-Type: text/html",
		"",
		"<i>inner html</i>",
		"--EMB--",
	)
	embeddedHeader = embedded[:strings.Index(embedded, "\r\n\r\n")+4]
	embeddedPart   = strings.TrimSuffix(embedded, "\r\n")
	embeddedBody   = embeddedPart[len(embeddedHeader):]
	msgRFC822      = crlf(
		"From: outer@example.com",
		"Subject: Fwd: inner subject",
		"Content-Type: multipart/mixed; boundary=FWD",
		"",
		"--FWD",
		"Content-Type: text/plain",
		"",
		"Forwarded message below.",
		"--FWD",
		"Content-Type: message/rfc822",
		"Content-Disposition: inline",
		"",
	) + embedded + crlf("--FWD--")

	msgEncoded = crlf(
		"From: =?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <joerg@example.de>",
		"To: =?ISO-8859-1?Q?Andr=E9?= <andre@example.fr>",
		"Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=",
		"Content-Type: multipart/mixed; boundary=ENC",
		"",
		"--ENC",
		"Content-Type: text/plain; charset=iso-8859-1",
		"Content-Transfer-Encoding: quoted-printable",
		"",
		"Sch=F6ne Gr=FC=DFe",
		"--ENC",
		"Content-Type: application/octet-stream;",
		" name*0*=utf-8''%E2%82%AC%20rates;",
		" name*1=\" 2024.txt\"",
		"Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20rates.txt",
		"",
		"data",
		"--ENC--",
	)

	msgUTF8Header = crlf(
		"From: Jörg <jörg@exämple.de>",
		"To: Zoë <zoe@example.com>",
		"Subject: Grüße aus Köln",
		"Content-Type: text/plain; charset=utf-8",
		"Content-Transfer-Encoding: 8bit",
		"",
		"Straße und Grüße",
	)

	msgGroups = crlf(
		"From: Bad Address",
		"Sender: <>",
		"To: undisclosed-recipients:;",
		"Cc: Team: a@example.com, \"B\" <b@example.com>;, c@example.com",
		"Bcc: @@@, foo@, (only a comment), <@route.example,@x:real@example.com>",
		"Reply-To: nobody",
		"Subject: groups",
		"",
		"body",
	)

	msgDigest = crlf(
		"Subject: digest",
		"Content-Type: multipart/digest; boundary=DIG",
		"",
		"--DIG",
		"",
		"Subject: first digest entry",
		"From: d1@example.com",
		"",
		"first",
		"--DIG",
		"",
		"Subject: second digest entry",
		"",
		"second",
		"--DIG--",
	)
)

// Malformed messages.
var (
	msgNoSeparator = crlf(
		"From: x@example.com",
		"Subject: no separator",
		"this line starts the body",
		"second body line",
	)

	msgHeaderOnly = "From: x@example.com\r\nSubject: header only"

	msgBareLF = strings.ReplaceAll(msgAlt, "\r\n", "\n")

	msgMissingBoundary = crlf(
		"Subject: missing boundary",
		"Content-Type: multipart/mixed",
		"",
		"--X",
		"Content-Type: text/plain",
		"",
		"hidden",
		"--X--",
	)

	msgWrongBoundary = crlf(
		"Subject: wrong boundary",
		`Content-Type: multipart/mixed; boundary="nomatch"`,
		"",
		"--X",
		"Content-Type: text/plain",
		"",
		"text that is really there",
		"--X--",
	)

	msgCloseOnly = crlf(
		"Subject: close only",
		"Content-Type: multipart/mixed; boundary=B",
		"",
		"text",
		"--B--",
	)

	msgUnterminated = crlf(
		"Subject: unterminated",
		"Content-Type: multipart/mixed; boundary=U",
		"",
		"--U",
		"Content-Type: text/plain",
		"",
		"one",
		"--U",
		"Content-Type: text/plain",
		"",
		"two, never closed",
	)

	msgBadEncodings = crlf(
		"Subject: bad encodings",
		"Content-Type: multipart/mixed; boundary=BAD",
		"",
		"--BAD",
		"Content-Type: text/plain",
		"Content-Transfer-Encoding: base64",
		"",
		"aGVs!!bG8g*d29y",
		"bGQ",
		"--BAD",
		"Content-Type: text/plain",
		"Content-Transfer-Encoding: quoted-printable",
		"",
		"a=ZZb=4",
		"--BAD",
		"Content-Type: text/plain",
		"Content-Transfer-Encoding: x-uuencode",
		"",
		"begin 644 x",
		"--BAD",
		"Content-Type: text/plain; charset=x-klingon",
		"",
		"unknown charset text",
		"--BAD",
		"Content-Type: message/rfc822",
		"Content-Transfer-Encoding: base64",
		"",
		"U3ViamVjdDogaGlkZGVuDQoNCmJvZHkNCg==",
		"--BAD--",
	)

	msgLatin1Header = "Subject: caf\xe9 cr\xe8me\r\nFrom: Ren\xe9 <rene@example.com>\r\n\r\nbody\r\n"

	msgNUL = "Subject: nul\x00byte\r\nFrom: n\x00ul@example.com\r\nContent-Type: text/plain\r\n\r\nbody\x00with\x00nuls\r\n"

	msgEmpty = ""

	msgBadContentType = crlf(
		"Subject: bad content type",
		"Content-Type: text",
		"Content-Transfer-Encoding: 8bit",
		"",
		"body",
	)
)

// deepRFC822 nests n message/rfc822 parts.
func deepRFC822(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString("Subject: level\r\nContent-Type: message/rfc822\r\n\r\n")
	}
	b.WriteString("Subject: bottom\r\n\r\nbottom text\r\n")
	return b.String()
}

// deepMultipart nests n multiparts, each with its own boundary and
// terminated properly.
func deepMultipart(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString("Content-Type: multipart/mixed; boundary=b")
		b.WriteString(itoa(i))
		b.WriteString("\r\n\r\n--b")
		b.WriteString(itoa(i))
		b.WriteString("\r\n")
	}
	b.WriteString("Content-Type: text/plain\r\n\r\ndeep text\r\n")
	for i := n - 1; i >= 0; i-- {
		b.WriteString("--b")
		b.WriteString(itoa(i))
		b.WriteString("--\r\n")
	}
	return b.String()
}

// manyParts builds a multipart with n text parts.
func manyParts(n int) string {
	var b strings.Builder
	b.WriteString("Subject: many\r\nContent-Type: multipart/mixed; boundary=M\r\n\r\n")
	for i := 0; i < n; i++ {
		b.WriteString("--M\r\nContent-Type: text/plain\r\n\r\npart ")
		b.WriteString(itoa(i))
		b.WriteString("\r\n")
	}
	b.WriteString("--M--\r\n")
	return b.String()
}

// hugeHeader builds a header with a very long field and many fields.
func hugeHeader() string {
	var b strings.Builder
	b.WriteString("Subject: " + strings.Repeat("long ", 40000) + "\r\n")
	for i := 0; i < 30000; i++ {
		b.WriteString("X-Field: " + itoa(i) + "\r\n")
	}
	b.WriteString("From: huge@example.com\r\n\r\nbody after huge header\r\n")
	return b.String()
}

// itoa formats a small non-negative int.
func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var d []byte
	for i > 0 {
		d = append([]byte{byte('0' + i%10)}, d...)
		i /= 10
	}
	return string(d)
}

// corpus lists every test message by name, in sequence-number order for the
// test server.
var corpus = []struct {
	name string
	raw  string
}{
	{"simple", msgSimple},
	{"alternative", msgAlt},
	{"mixed", msgMixed},
	{"nested", msgNested},
	{"rfc822", msgRFC822},
	{"encoded", msgEncoded},
	{"utf8header", msgUTF8Header},
	{"groups", msgGroups},
	{"digest", msgDigest},
	{"noseparator", msgNoSeparator},
	{"headeronly", msgHeaderOnly},
	{"barelf", msgBareLF},
	{"missingboundary", msgMissingBoundary},
	{"wrongboundary", msgWrongBoundary},
	{"closeonly", msgCloseOnly},
	{"unterminated", msgUnterminated},
	{"badencodings", msgBadEncodings},
	{"latin1header", msgLatin1Header},
	{"nul", msgNUL},
	{"empty", msgEmpty},
	{"badcontenttype", msgBadContentType},
	{"deeprfc822", deepRFC822(10000)},
	{"deepmultipart", deepMultipart(10000)},
	{"manyparts", manyParts(3000)},
	{"hugeheader", hugeHeader()},
	{"addresscomments", msgAddressComments},
}

// msgAddressComments has addresses with comments, a source route and an
// empty group, which SEARCH must match on the parsed addresses.
var msgAddressComments = crlf(
	"From: <user (comment)@ (comment) domain>",
	`To: "Team" <@relay1.example,@relay2.example:team@example.org>`,
	"Cc: Undisclosed recipients:;",
	"Subject: Re: [list] comments (fwd)",
	"Date: Tue, 03 Jan 2006 10:00:00 +0000",
	"Message-ID: <comments@example.com>",
	"",
	"body",
)

// corpusSeq returns the sequence number of a corpus message.
func corpusSeq(name string) uint32 {
	for i, c := range corpus {
		if c.name == name {
			return uint32(i + 1)
		}
	}
	panic("unknown corpus message " + name)
}

// corpusRaw returns the bytes of a corpus message.
func corpusRaw(name string) string {
	return corpus[corpusSeq(name)-1].raw
}

// corpusMsgs returns the corpus as test-server messages.
func corpusMsgs() []*testMsg {
	msgs := make([]*testMsg, len(corpus))
	for i, c := range corpus {
		msgs[i] = newTestMsg([]byte(c.raw))
	}
	return msgs
}
