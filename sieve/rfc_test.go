package sieve

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// rfc5228Script is the example of RFC 5228 section 9.
const rfc5228Script = `#
# Example Sieve Filter
# Declare any optional features or extension used by the script
#
require ["fileinto"];

#
# Handle messages from known mailing lists
# Move messages from IETF filter discussion list to filter mailbox
#
if header :is "Sender" "owner-ietf-mta-filters@imc.org"
        {
        fileinto "filter";  # move to "filter" mailbox
        }
#
# Keep all messages to or from people in my company
#
elsif address :DOMAIN :is ["From", "To"] "example.com"
        {
        keep;               # keep in "In" mailbox
        }

#
# Try and catch unsolicited email.  If a message is not to me,
# or it contains a subject known to be spam, file it away.
#
elsif anyof (NOT address :all :contains
               ["To", "Cc", "Bcc"] "me@example.com",
             header :matches "subject"
               ["*make*money*fast*", "*university*dipl*mas*"])
        {
        fileinto "spam";   # move to "spam" mailbox
        }
else
        {
        # Move all other (non-company) mail to "personal"
        # mailbox.
        fileinto "personal";
        }
`

func TestRFC5228Example(t *testing.T) {
	runCases(t, []scriptCase{
		{name: "list", script: rfc5228Script, msg: "Sender: owner-ietf-mta-filters@imc.org\nFrom: a@b.example\nTo: me@example.com\n\nx\n", want: "fileinto:filter"},
		{name: "company", script: rfc5228Script, msg: "From: Boss <boss@EXAMPLE.com>\nTo: other@else.example\n\nx\n", want: "keep"},
		{name: "not to me", script: rfc5228Script, msg: "From: x@spam.example\nTo: someone@else.example\n\nx\n", want: "fileinto:spam"},
		{name: "spam subject", script: rfc5228Script, msg: "From: x@spam.example\nTo: list@other.example\nBcc: Me <me@example.com>\nSubject: Make lots of MONEY very fast\n\nx\n", want: "fileinto:spam"},
		{name: "personal", script: rfc5228Script, msg: "From: friend@home.example\nCc: me@example.com\nSubject: dinner\n\nx\n", want: "fileinto:personal"},
	})
}

func TestBaseCommands(t *testing.T) {
	msg := "From: Coyote <coyote@desert.example.org>\nTo: me@example.com, \"Road, Runner\" <rr@example.net>\nSubject: birdseed\nX-Priority: 2\nDate: Mon, 07 Dec 2026 08:15:00 +0100\nMessage-ID: <1@desert.example.org>\n\nHello there\n"
	runCases(t, []scriptCase{
		{name: "implicit keep", script: `# nothing`, msg: msg, want: "keep*"},
		{name: "discard", script: `discard;`, msg: msg, want: "discard"},
		{name: "stop keeps implicit", script: `stop; discard;`, msg: msg, want: "keep*"},
		{name: "keep twice once", script: `keep; keep;`, msg: msg, want: "keep"},
		{name: "redirect", script: `redirect "friend@example.net";`, msg: msg, want: "redirect:friend@example.net"},
		{name: "redirect to self", script: `redirect "Me@Example.com";`, msg: msg, want: "keep"},
		{name: "redirect copy to self", script: `require "copy"; redirect :copy "me+x@example.com";`, msg: msg, want: "keep*"},
		{name: "redirect dup", script: `redirect "a@example.net"; redirect "A@example.net";`, msg: msg, want: "redirect:a@example.net"},
		{name: "redirect copy keeps", script: `require "copy"; redirect :copy "a@example.net";`, msg: msg, want: "redirect:a@example.net(copy) keep*"},
		{name: "fileinto copy keeps", script: `require ["copy", "fileinto"]; fileinto :copy "incoming";`, msg: msg, want: "fileinto:incoming(copy) keep*"},
		{name: "fileinto dup", script: `require "fileinto"; fileinto "a"; fileinto "a"; fileinto "b";`, msg: msg, want: "fileinto:a fileinto:b"},
		{name: "elsif chain", script: `require "fileinto"; if false { fileinto "1"; } elsif header :contains "subject" "SEED" { fileinto "2"; } else { fileinto "3"; }`, msg: msg, want: "fileinto:2"},
		{name: "else", script: `require "fileinto"; if false { fileinto "1"; } elsif false { fileinto "2"; } else { fileinto "3"; }`, msg: msg, want: "fileinto:3"},
		{name: "exists", script: `if exists ["From", "X-Priority"] { discard; }`, msg: msg, want: "discard"},
		{name: "exists missing", script: `if exists ["From", "X-Nope"] { discard; }`, msg: msg, want: "keep*"},
		{name: "size over", script: `if size :over 10 { discard; }`, msg: msg, want: "discard"},
		{name: "size under", script: `if size :under 1K { discard; }`, msg: msg, want: "discard"},
		{name: "allof", script: `if allof (true, header :is "x-priority" "2") { discard; }`, msg: msg, want: "discard"},
		{name: "allof false", script: `if allof (true, false) { discard; }`, msg: msg, want: "keep*"},
		{name: "anyof", script: `if anyof (false, not false) { discard; }`, msg: msg, want: "discard"},
		{name: "address localpart", script: `if address :localpart :is "from" "COYOTE" { discard; }`, msg: msg, want: "discard"},
		{name: "address domain", script: `if address :domain :is "to" "example.net" { discard; }`, msg: msg, want: "discard"},
		{name: "address all quoted name", script: `if address :all :is "to" "rr@example.net" { discard; }`, msg: msg, want: "discard"},
		{name: "address octet case", script: `if address :comparator "i;octet" :is "from" "COYOTE@desert.example.org" { discard; }`, msg: msg, want: "keep*"},
		{name: "header matches ?", script: `if header :matches "subject" "bird?eed" { discard; }`, msg: msg, want: "discard"},
		{name: "header matches escaped", script: `if header :matches "subject" "bird\\*" { discard; }`, msg: msg, want: "keep*"},
		{name: "envelope", script: `require "envelope"; if envelope :all :is "from" "tim@example.com" { discard; }`, msg: msg, from: "tim@example.com", want: "discard"},
		{name: "envelope domain", script: `require "envelope"; if envelope :domain :is "to" "example.com" { discard; }`, msg: msg, want: "discard"},
		{name: "envelope null forward path", script: `require "envelope"; if envelope :all :is "to" "" { discard; }`, msg: msg, to: "<>", want: "keep*"},
		{name: "envelope null sender all", script: `require "envelope"; if envelope :all :is "from" "" { discard; }`, msg: msg, from: "-", want: "discard"},
		{name: "envelope null sender", script: `require "envelope"; if envelope :localpart :is "from" "" { discard; }`, msg: msg, from: "-", want: "discard"},
		{name: "ascii-numeric", script: `require ["relational", "comparator-i;ascii-numeric"]; if header :value "lt" :comparator "i;ascii-numeric" "x-priority" "3" { discard; }`, msg: msg, want: "discard"},
		{name: "unicode casemap", script: `require "comparator-i;unicode-casemap"; if header :comparator "i;unicode-casemap" :is "subject" "BIRDSEED" { discard; }`, msg: msg, want: "discard"},
		{name: "junk header", script: `if header :is "X-Yubin-Junk" "no" { discard; }`, msg: msg, want: "discard"},
	})
}

func TestJunkVerdictVisible(t *testing.T) {
	m := testMessage("From: a@b.example\nX-Yubin-Junk: no\nSubject: x\n\nbody\n", "a@b.example", "me@example.com")
	m.Junk = true
	res := runScript(t, newTestEnv(), `require "fileinto"; if header :is "X-Yubin-Junk" "yes" { fileinto "INBOX"; }`, m)
	if got := summary(res); got != "fileinto:INBOX" {
		t.Errorf("got %q", got)
	}
	m = testMessage("From: a@b.example\nX-Yubin-Junk: yes\nSubject: x\n\nbody\n", "a@b.example", "me@example.com")
	res = runScript(t, newTestEnv(), `if header :contains "X-Yubin-Junk" "yes" { discard; }`, m)
	if got := summary(res); got != "keep*" {
		t.Errorf("forged junk header visible: %q", got)
	}
}

func TestRFC5429Reject(t *testing.T) {
	msg := "From: coyote@desert.example.org\nTo: me@example.com\n\nseed\n"
	runCases(t, []scriptCase{
		{name: "reject", script: "require [\"reject\"];\nif header :contains \"from\" \"coyote@desert.example.org\" {\n  reject text:\nI am not taking mail from you, and I don't\nwant your birdseed, either.\n.\n;\n}", msg: msg,
			want: "reject:I am not taking mail from you, and I don't\r\nwant your birdseed, either.\r\n"},
		{name: "ereject", script: `require ["ereject"]; if address :is "from" "coyote@desert.example.org" { ereject "I no longer accept mail from this address"; }`, msg: msg,
			want: "reject:I no longer accept mail from this address"},
	})
	s, err := Compile(`require ["reject", "fileinto"]; fileinto "x"; reject "no";`, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(context.Background(), testMessage(msg, "a@b.example", "me@example.com"), newTestEnv(), defaultOpts); err == nil {
		t.Error("reject with fileinto ran")
	}
}

func TestRFC3894Copy(t *testing.T) {
	runCases(t, []scriptCase{
		{name: "redirect copy", script: `require ["copy"]; if header :contains "subject" "x" { redirect :copy "a@example.net"; }`, msg: "Subject: x\n\n", want: "redirect:a@example.net(copy) keep*"},
		{name: "copy then plain", script: `require ["copy", "fileinto"]; fileinto :copy "a"; fileinto "b";`, msg: "Subject: x\n\n", want: "fileinto:a(copy) fileinto:b"},
	})
}

func TestRFC5173Body(t *testing.T) {
	mime := `From: a@b.example
To: me@example.com
Subject: plans
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="XX"

--XX
Content-Type: text/plain; charset=us-ascii

The missile is ready.
--XX
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<p>See the <b>coordin=
ates</b> &amp; map</p>
--XX
Content-Type: audio/mp3
Content-Transfer-Encoding: base64

AAEC
--XX--
`
	plain := "From: a@b.example\nSubject: hi\n\nPlease MAKE MONEY FAST now\n"
	runCases(t, []scriptCase{
		{name: "raw", script: `require "body"; if body :raw :contains "MAKE MONEY FAST" { discard; }`, msg: plain, want: "discard"},
		{name: "raw sees encoding", script: `require "body"; if body :raw :contains "coordin=" { discard; }`, msg: mime, want: "discard"},
		{name: "content text", script: `require ["body", "fileinto"]; if body :content "text" :contains ["missile", "coordinates"] { fileinto "secrets"; }`, msg: mime, want: "fileinto:secrets"},
		{name: "content audio", script: `require ["body", "fileinto"]; if body :content "audio/mp3" :contains "" { fileinto "music"; }`, msg: mime, want: "fileinto:music"},
		{name: "content audio absent", script: `require ["body", "fileinto"]; if body :content "audio/mp3" :contains "" { fileinto "music"; }`, msg: plain, want: "keep*"},
		{name: "text strips html", script: `require "body"; if body :text :contains "coordinates & map" { discard; }`, msg: mime, want: "discard"},
		{name: "default is text", script: `require "body"; if body :contains "missile" { discard; }`, msg: mime, want: "discard"},
		{name: "text skips audio", script: `require "body"; if body :text :contains "AAEC" { discard; }`, msg: mime, want: "keep*"},
		{name: "plain body", script: `require "body"; if body :contains "money" { discard; }`, msg: plain, want: "discard"},
	})
}

func TestRFC5232Imap4flags(t *testing.T) {
	script := `require ["fileinto", "imap4flags", "variables"];
if size :over 1M
        {
        addflag "MyFlags" "Big";
        if header :is "From" "boss@company.example.com"
                   {
# The message will be marked as "\Flagged Big" when filed into
# mailbox "Big messages"
                   addflag "MyFlags" "\\Flagged";
                   }
        fileinto :flags "${MyFlags}" "Big messages";
        }

if header :is "From" "grandma@example.net"
        {
        addflag "MyFlags" ["\\Answered", "$MDNSent"];
# If the message is bigger than 1Mb it will be marked as
# "Big \Answered $MDNSent" when filed into mailbox "grandma".
# If the message is shorter than 1Mb it will be marked as
# "\Answered $MDNSent"
        fileinto :flags "${MyFlags}" "GrandMa";
        }

# Handle messages from known mailing lists
# Move messages from IETF filter discussion list to filter folder
if header :is "Sender" "owner-ietf-mta-filters@example.org"
        {
        set "MyFlags" "\\Seen $Work";
# Message will have both "\Seen" and "$Work" flags
        keep :flags "${MyFlags}";
        }
`
	env := newTestEnv()
	big := testMessage("From: boss@company.example.com\n\nx\n", "a@b.example", "me@example.com")
	big.Size = 2 << 20
	if got := summary(runScript(t, env, script, big)); got != `fileinto:Big messages[Big \Flagged]` {
		t.Errorf("big: %q", got)
	}
	gm := testMessage("From: grandma@example.net\n\nx\n", "a@b.example", "me@example.com")
	if got := summary(runScript(t, env, script, gm)); got != `fileinto:GrandMa[\Answered $MDNSent]` {
		t.Errorf("grandma: %q", got)
	}
	list := testMessage("Sender: owner-ietf-mta-filters@example.org\n\nx\n", "a@b.example", "me@example.com")
	if got := summary(runScript(t, env, script, list)); got != `keep[\Seen $Work]` {
		t.Errorf("list: %q", got)
	}
	runCases(t, []scriptCase{
		{name: "internal variable", script: `require "imap4flags"; setflag "\\Seen"; addflag ["$A", "\\seen"]; removeflag "$a";`, msg: "S: x\n\n", want: `keep[\Seen]*`},
		{name: "hasflag", script: `require ["imap4flags", "fileinto"]; addflag "$Work \\Flagged"; if hasflag :contains "work" { fileinto "w"; }`, msg: "S: x\n\n", want: `fileinto:w[$Work \Flagged]`},
		{name: "hasflag count", script: `require ["imap4flags", "relational", "comparator-i;ascii-numeric"]; addflag "a b c"; if hasflag :count "eq" :comparator "i;ascii-numeric" "3" { discard; }`, msg: "S: x\n\n", want: "discard"},
		{name: "hasflag variable", script: `require ["imap4flags", "variables"]; set "v" "x y"; if hasflag "v" "y" { discard; }`, msg: "S: x\n\n", want: "discard"},
		{name: "invalid flags dropped", script: `require "imap4flags"; addflag ["\\Recent", "\\seen", "bad(flag", "\\Nope", "ok"];`, msg: "S: x\n\n", want: `keep[\Seen ok]*`},
		{name: "keep flags override", script: `require "imap4flags"; addflag "a"; keep :flags "b";`, msg: "S: x\n\n", want: "keep[b]"},
	})
}

func TestRFC5229Variables(t *testing.T) {
	listMsg := "List-ID: Acme users <acme-users@example.com>\nSubject: [acme-users] [fwd] version 1.0 is out\nTo: coyote@ACME.Example.COM\n\nx\n"
	runCases(t, []scriptCase{
		{name: "list-id", script: `require ["fileinto", "variables"];
if header :matches "List-ID" "*<*@*" {
    fileinto "INBOX.lists.${2}"; stop;
}`, msg: listMsg, want: "fileinto:INBOX.lists.acme-users"},
		{name: "subject", script: `require ["fileinto", "variables"];
# Imagine the header
# Subject: [acme-users] [fwd] version 1.0 is out
if header :matches "Subject" "[*] *" {
    # ${1} will hold "acme-users",
    # ${2} will hold "[fwd] version 1.0 is out"
    fileinto "INBOX.lists.${1}/${2}"; stop;
}`, msg: listMsg, want: "fileinto:INBOX.lists.acme-users/[fwd] version 1.0 is out"},
		{name: "address double star", script: `require ["fileinto", "variables"];
# Imagine the header
# To: coyote@ACME.Example.COM
if address :matches ["To", "Cc"] ["coyote@**.com",
        "wile@**.com"] {
    # ${0} is the matching address
    # ${1} always holds the empty string
    # ${2} holds the domain name, e.g. "ACME.Example"
    fileinto "INBOX.business.${2}|${1}|${0}"; stop;
} else {
    # Control wouldn't reach this block if any match was
    # successful, so no match variables are set at this
    # point.
}`, msg: listMsg, want: "fileinto:INBOX.business.ACME.Example||coyote@ACME.Example.COM"},
		{name: "case insensitive names", script: "require [\"variables\", \"reject\"];\nset \"honorific\"  \"Mr\";\nset \"first_name\" \"Wile\";\nset \"last_name\"  \"Coyote\";\nset \"vacation\" text:\nDear ${HONORIFIC} ${last_name},\nI'm out, please leave a message after the meep.\n.\n;\nreject \"${vacation}\";",
			msg: listMsg, want: "reject:Dear Mr Coyote,\r\nI'm out, please leave a message after the meep.\r\n"},
		{name: "bad references", script: `require ["variables", "reject"]; set "company" "ACME"; reject "${BAD${Company}|${President, ${Vice-President}}|${unset}|$${company}";`,
			msg: listMsg, want: "reject:${BADACME|${President, ${Vice-President}}||$ACME"},
		{name: "string test", script: `require ["variables", "fileinto"]; set "x" "abc"; if string :is "${x}" "abc" { fileinto "ok"; }`, msg: listMsg, want: "fileinto:ok"},
		{name: "string count non-empty", script: `require ["variables", "relational", "comparator-i;ascii-numeric"]; if string :count "eq" :comparator "i;ascii-numeric" ["a", "", "b"] "2" { discard; }`, msg: listMsg, want: "discard"},
		{name: "unmatched keeps vars", script: `require ["variables", "reject"]; if header :matches "subject" "[*]*" {} if header :matches "subject" "nomatch*" {} reject "${1}";`, msg: listMsg, want: "reject:acme-users"},
	})
	mods := []struct{ tags, want string }{
		{":length", "15"},
		{":lower", "jumbled letters"},
		{":upper", "JUMBLED LETTERS"},
		{":upperfirst", "JuMBlEd lETteRS"},
		{":lowerfirst", "juMBlEd lETteRS"},
		{":upperfirst :lower", "Jumbled letters"},
		{":lower :upperfirst", "Jumbled letters"},
		{":quotewildcard", "juMBlEd lETteRS"},
		{":length :quotewildcard", "15"},
	}
	for _, m := range mods {
		script := `require ["variables", "reject"]; set "a" "juMBlEd lETteRS"; set ` + m.tags + ` "b" "${a}"; reject "${b}";`
		res := runScript(t, newTestEnv(), script, testMessage("S: x\n\n", "a@b.example", "me@example.com"))
		if got := res.Actions[0].Reason; got != m.want {
			t.Errorf("set %s: %q, want %q", m.tags, got, m.want)
		}
	}
	res := runScript(t, newTestEnv(), `require ["variables", "reject"]; set :quotewildcard "b" "Rock*?\\"; reject "${b}";`, testMessage("S: x\n\n", "a@b.example", "me@example.com"))
	if got := res.Actions[0].Reason; got != `Rock\*\?\\` {
		t.Errorf("quotewildcard: %q", got)
	}
	if _, err := Compile(`require "variables"; set :lower :upper "a" "b";`, Limits{}); err == nil {
		t.Error(":lower :upper accepted")
	}
}

func TestRFC5231Relational(t *testing.T) {
	msg := "Received: from a\nReceived: from b\nSubject: example\nTo: foo@example.com, baz@example.com\nCC: qux@example.com\n\nx\n"
	pre := `require ["relational", "comparator-i;ascii-numeric"]; `
	runCases(t, []scriptCase{
		{name: "address count to cc", script: pre + `if address :count "ge" :comparator "i;ascii-numeric" ["to", "cc"] ["3"] { discard; }`, msg: msg, want: "discard"},
		{name: "per header false", script: pre + `if anyof ( address :count "ge" :comparator "i;ascii-numeric" ["to"] ["3"], address :count "ge" :comparator "i;ascii-numeric" ["cc"] ["3"] ) { discard; }`, msg: msg, want: "keep*"},
		{name: "received count", script: pre + `if header :count "ge" :comparator "i;ascii-numeric" ["received"] ["3"] { discard; }`, msg: msg, want: "keep*"},
		{name: "received subject count", script: pre + `if header :count "ge" :comparator "i;ascii-numeric" ["received", "subject"] ["3"] { discard; }`, msg: msg, want: "discard"},
		{name: "header fields to cc", script: pre + `if header :count "ge" :comparator "i;ascii-numeric" ["to", "cc"] ["3"] { discard; }`, msg: msg, want: "keep*"},
		{name: "value gt string", script: `require "relational"; if header :value "gt" "subject" "EXAMPLD" { discard; }`, msg: msg, want: "discard"},
		{name: "value ne", script: `require "relational"; if header :value "ne" "subject" "example" { discard; }`, msg: msg, want: "keep*"},
		{name: "count eq 0 missing", script: pre + `if header :count "eq" :comparator "i;ascii-numeric" "x-none" "0" { discard; }`, msg: msg, want: "discard"},
	})
}

func TestRFC5260Date(t *testing.T) {
	boss := "From: boss@example.com\nDate: Mon, 07 Dec 2026 10:15:00 -0500\nReceived: from x by y; Sat, 05 Dec 2026 23:30:00 +0000\nReceived: from z by y; Sun, 06 Dec 2026 01:30:00 +0000\n\nx\n"
	runCases(t, []scriptCase{
		{name: "business hours", script: `require ["date", "relational", "fileinto"];
if allof(header :is "from" "boss@example.com",
         date :value "ge" :originalzone "date" "hour" "09",
         date :value "lt" :originalzone "date" "hour" "17")
{ fileinto "urgent"; }`, msg: boss, want: "fileinto:urgent"},
		{name: "weekend", script: `require ["date", "relational", "fileinto"];
if anyof(date :is "received" "weekday" "0",
         date :is "received" "weekday" "6")
{ fileinto "weekend"; }`, msg: boss, want: "fileinto:weekend"},
		{name: "month-year", script: `require ["date", "variables", "fileinto"];
if currentdate :matches "month" "*" { set "month" "${1}"; }
if currentdate :matches "year"  "*" { set "year"  "${1}"; }
fileinto "${month}-${year}";`, msg: boss, want: "fileinto:12-2026"},
		{name: "zone conversion", script: `require ["date", "fileinto", "variables"]; if date :zone "+0900" :matches "date" "iso8601" "*" { fileinto "${1}"; }`, msg: boss, want: "fileinto:2026-12-08T00:15:00+09:00"},
		{name: "default local zone", script: `require ["date", "fileinto", "variables"]; if date :matches "date" "std11" "*" { fileinto "${1}"; }`, msg: boss, want: "fileinto:Tue, 08 Dec 2026 00:15:00 +0900"},
		{name: "parts", script: `require ["date", "fileinto", "variables"]; if date :originalzone :matches "date" "zone" "*" { set "z" "${1}"; } if date :originalzone :matches "date" "julian" "*" { set "j" "${1}"; } if date :originalzone :matches "date" "time" "*" { fileinto "${z} ${j} ${1}"; }`, msg: boss, want: "fileinto:-0500 61381 10:15:00"},
		{name: "index last", script: `require ["date", "index", "fileinto"]; if date :index 1 :last :zone "+0000" "received" "date" "2026-12-06" { fileinto "first-hop"; }`, msg: boss, want: "fileinto:first-hop"},
		{name: "index first", script: `require ["date", "index", "fileinto"]; if date :index 1 :zone "+0000" "received" "date" "2026-12-05" { fileinto "last-hop"; }`, msg: boss, want: "fileinto:last-hop"},
		{name: "header index", script: `require ["index", "fileinto"]; if header :index 2 :contains "received" "from z" { fileinto "second"; }`, msg: boss, want: "fileinto:second"},
		{name: "header index beyond", script: `require ["index"]; if header :index 3 :contains "received" "from" { discard; }`, msg: boss, want: "keep*"},
		{name: "unparsable date", script: `require "date"; if date :matches "x-date" "year" "*" { discard; }`, msg: "X-Date: yesterday\n\nx\n", want: "keep*"},
	})
	runCases(t, []scriptCase{
		{name: "vacation window", script: `require ["date", "relational", "vacation"];
if allof(currentdate :value "ge" "date" "2026-12-01",
         currentdate :value "le" "date" "2026-12-31")
{ vacation :days 7  "I'm away during December."; }`, msg: "From: a@b.example\nTo: me@example.com\nSubject: hi\n\nx\n", from: "a@b.example", want: "vacation:a@b.example keep*"},
	})
}

func TestRFC5490Mailbox(t *testing.T) {
	script := `require ["fileinto", "reject", "mailbox"];
if mailboxexists "Partners" {
   fileinto "Partners";
} else {
   reject "This message was not accepted by the Mailstore";
}`
	env := newTestEnv()
	m := func() *Message { return testMessage("S: x\n\nx\n", "a@b.example", "me@example.com") }
	if got := summary(runScript(t, env, script, m())); got != "fileinto:Partners" {
		t.Errorf("exists: %q", got)
	}
	delete(env.mailboxes, "Partners")
	if got := summary(runScript(t, env, script, m())); got != "reject:This message was not accepted by the Mailstore" {
		t.Errorf("missing: %q", got)
	}
	if got := summary(runScript(t, env, `require ["fileinto", "mailbox"]; fileinto :create "INBOX.folder";`, m())); got != "fileinto:INBOX.folder(create)" {
		t.Errorf("create: %q", got)
	}
}

func TestRFC5233Subaddress(t *testing.T) {
	script := `require ["envelope", "subaddress", "fileinto"];

# In this example the same user account receives mail for both
# "ken@example.com" and "postmaster@example.com"

# File all messages to postmaster into a single mailbox,
# ignoring the :detail part.
if envelope :user "to" "postmaster" {
    fileinto "inbox.postmaster";
    stop;
}

# File mailing list messages (subscribed as "ken+mta-filters").
if envelope :detail "to" "mta-filters" {
    fileinto "inbox.ietf-mta-filters";
}

# Redirect all mail sent to "ken+foo".
if envelope :detail "to" "foo" {
    redirect "ken@example.net";
}
`
	msg := "Subject: x\n\nx\n"
	runCases(t, []scriptCase{
		{name: "postmaster detail", script: script, msg: msg, to: "postmaster+x@example.com", want: "fileinto:inbox.postmaster"},
		{name: "postmaster", script: script, msg: msg, to: "postmaster@example.com", want: "fileinto:inbox.postmaster"},
		{name: "list", script: script, msg: msg, to: "ken+mta-filters@example.com", want: "fileinto:inbox.ietf-mta-filters"},
		{name: "foo", script: script, msg: msg, to: "ken+foo@example.com", want: "redirect:ken@example.net"},
		{name: "no detail", script: script, msg: msg, to: "ken@example.com", want: "keep*"},
		{name: "empty detail", script: `require ["envelope", "subaddress"]; if envelope :detail "to" "" { discard; }`, msg: msg, to: "ken+@example.com", want: "discard"},
		{name: "no delimiter no detail", script: `require ["envelope", "subaddress"]; if envelope :detail :matches "to" "*" { discard; }`, msg: msg, to: "ken@example.com", want: "keep*"},
		{name: "address detail", script: `require ["subaddress", "fileinto", "variables"]; if address :detail :matches "to" "*" { fileinto "${1}"; }`, msg: "To: me+Shop@example.com\n\nx\n", want: "fileinto:Shop"},
	})
	s, err := Compile(`require ["envelope", "subaddress"]; if envelope :user "to" "ken-foo" { discard; }`, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	opts := defaultOpts
	opts.SubaddressDelimiter = "-"
	res, err := s.Run(context.Background(), testMessage(msg, "a@b.example", "ken-foo@example.com"), newTestEnv(), opts)
	if err != nil || summary(res) != "keep*" {
		t.Errorf("delimiter -: %v %q", err, summary(res))
	}
	opts.SubaddressDelimiter = "+-"
	s2, err := Compile(`require ["envelope", "subaddress"]; if allof (envelope :user "to" "ken", envelope :detail "to" "foo+bar") { discard; }`, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	res, err = s2.Run(context.Background(), testMessage(msg, "a@b.example", "ken-foo+bar@example.com"), newTestEnv(), opts)
	if err != nil || summary(res) != "discard" {
		t.Errorf("delimiters +-: %v %q", err, summary(res))
	}
	opts.SubaddressDelimiter = ""
	res, err = s.Run(context.Background(), testMessage(msg, "a@b.example", "ken-foo@example.com"), newTestEnv(), opts)
	if err != nil || summary(res) != "discard" {
		t.Errorf("no delimiter: %v %q", err, summary(res))
	}
}

func TestRuntimeLimits(t *testing.T) {
	msg := testMessage("Subject: "+strings.Repeat("a", 3000)+"\n\nx\n", "a@b.example", "me@example.com")
	cases := []struct {
		name   string
		script string
		lim    Limits
	}{
		{"redirects", `redirect "a@x.example"; redirect "b@x.example"; redirect "c@x.example";`, Limits{MaxRedirects: 2}},
		{"actions", `require "fileinto"; fileinto "a"; fileinto "b"; fileinto "c";`, Limits{MaxActions: 2}},
		{"steps", `if header :matches "subject" "*a*a*a*a*a*a*a*b" { discard; }`, Limits{MaxSteps: 2000}},
		{"variable memory", `require "variables"; set "a" "` + strings.Repeat("x", 600) + `"; set "b" "${a}${a}";`, Limits{MaxVariableBytes: 1000}},
		{"string expansion", `require "variables"; set "a" "` + strings.Repeat("x", 600) + `"; set "b" "${a}${a}";`, Limits{MaxStringBytes: 1000}},
	}
	for _, c := range cases {
		s, err := Compile(c.script, Limits{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		opts := defaultOpts
		opts.Limits = c.lim
		_, err = s.Run(context.Background(), msg, newTestEnv(), opts)
		var re *RuntimeError
		if !errors.Is(err, ErrLimit) || !errors.As(err, &re) || re.Pos.Line != 1 {
			t.Errorf("%s: error %v, want a limit error with a position", c.name, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, _ := Compile(`if header :matches "subject" "*a*a*a*a*a*a*a*b" { discard; }`, Limits{})
	if _, err := s.Run(ctx, msg, newTestEnv(), defaultOpts); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
