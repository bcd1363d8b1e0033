// Package mta speaks SMTP for Yubin. NewServer is the MX intake: the
// listener that takes mail from the internet for local users, runs it
// through the filter chain and stores it in the mailstore.
// NewSubmissionServer is submission for Yubin's own users: the same session
// code in ModeSubmission, with AUTH, sender checks, a sending rate, DKIM
// signing and the outbound queue for remote recipients (see its doc).
//
// The intake's protocol is go-smtp's, submission's Yubin's own engine
// (smtpserver, which adds BURL); both speak ESMTP with PIPELINING, 8BITMIME,
// SMTPUTF8, SIZE, STARTTLS, ENHANCEDSTATUSCODES and CHUNKING/BDAT, and this
// package is the session behind both and the server's life cycle around
// it:
//
//   - MAIL: the null sender is accepted; other senders must be well-formed
//     and pass Chain.CheckSender, whose reject or tempfail reply is used as
//     is.
//   - RCPT: only enabled users of enabled local domains are accepted, and
//     everything else is refused right away (550 5.1.1 for an unknown user,
//     550 5.7.1 for any other domain: the intake never relays, 501 5.1.3 for
//     a malformed address), so that Yubin never has to send a bounce for an
//     unknown recipient. Several addresses of the same user get one copy.
//   - DATA/BDAT: the message is spooled (in memory up to 1 MiB, in a
//     temporary file beyond), checked for mail loops (more than 50 Received
//     fields), its header parsed (every field up to the blank line, lines
//     that are no field skipped), and run through Chain.Check. The verdict decides:
//     reject or tempfail with its reply, hold in quarantine (for an
//     administrator; a release runs the scripts then, release.go), file into
//     \Junk or into INBOX. The stored copy gets its
//     delivery fields on top (below), then Yubin's Received field, then
//     the fields the filters add, then the
//     message as received minus the fields the filters remove (and any
//     Return-Path: Yubin writes its own).
//   - Sieve: each local recipient's domain script and active script
//     (sieve.go) decide where that recipient's copies go (fileinto, keep,
//     discard, flags), and what is sent on (redirect, vacation, reject);
//     a script that fails leaves the copy where it would go without one.
//   - Storage: one mailstore Deliver call for all recipients, each copy
//     under its own Return-Path and Delivered-To (the address that reached
//     the mailbox; only its own recipient's, so Bcc recipients stay hidden
//     from each other): one body per copy, all written before the one
//     all-or-nothing metadata write (a single recipient: one body, as
//     before). The 250, which carries the queue id, is sent only after
//     Deliver returned, that is once every copy is durable, and the
//     scripts' redirects, rejections and vacation replies are queued.
//
// Quota is checked at RCPT time, each recipient on its own: one whose
// mailbox (bytes or messages) or domain is already full, or has less room
// than the SIZE= of MAIL FROM, gets 452 4.2.2; one whose whole quota is
// smaller than SIZE= gets 552 5.2.2 (an alias is refused when any of its
// targets is). It is enforced again at delivery, which has the last word
// and is all or nothing: a message without SIZE= that does not fit in some
// recipient's mailbox is refused as a whole before any copy is made (452
// 4.2.2 "<rcpt>: recipient's mailbox is full", or 552 5.2.2 when it is
// larger than every recipient's whole quota), and the sender's retry is
// then refused at RCPT for that recipient alone (see quota.go for why
// this and not a bounce).
//
// DATA and BDAT: a line longer than 1,000 bytes with its CRLF is refused
// (500 5.5.2, RFC 5321 section 4.5.3.1.6); a header that does not end
// within 1 MiB is refused (552 5.3.4), so that every filter sees every
// field; the end of data after a bare CR ("<CR><CRLF>.<CRLF>"), which
// go-smtp's reader misses, is answered and the connection closed. A
// session that tries ten unknown recipients is closed (421 4.7.0), the
// answers after the third held back two seconds each.
//
// The intake's connections are those of every mail listener:
// internal/netutil.Sessions accepts them (with backoff), applies the
// connection caps (Options.ConnLimiter), tracks them and ends them on
// Shutdown (421 to idle clients at once, to one in a transaction once it
// is answered) or Close; go-smtp's server serves each connection it is
// handed (netutil.Handoff). Server adds recovery from panics in the
// session code (451, server stays up), one log line per message, and
// counters (Stats) for the metrics endpoint.
package mta
