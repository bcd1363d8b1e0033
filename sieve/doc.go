// Package sieve compiles and runs Sieve mail filtering scripts (RFC 5228)
// at delivery time.
//
// It implements the base language and the extensions listed by
// Extensions: fileinto, reject and ereject (RFC 5429), envelope, body (RFC
// 5173), imap4flags (RFC 5232), variables (RFC 5229), relational (RFC
// 5231), copy (RFC 3894), date and index (RFC 5260), mailbox (RFC 5490),
// vacation (RFC 5230), subaddress (RFC 5233), encoded-character, and the
// comparators i;octet, i;ascii-casemap, i;unicode-casemap and
// i;ascii-numeric.
//
// # Use
//
// Compile checks a script when it is saved (ManageSieve PUTSCRIPT, the REST
// API): its errors are *Error values with a line and column. The *Script it
// returns is immutable and may be cached and run concurrently.
//
// Script.Run evaluates the script against one message for one recipient.
// The caller passes the message (header bytes, a body reader, the envelope
// and the filter chain's Junk verdict), an Environment (does a mailbox
// exist, was a vacation reply sent recently, the clock) and RunOptions
// (limits including the redirect cap, the user's addresses, the subaddress
// delimiter). Run performs no I/O of its own: it returns a Result listing
// the actions — keep, fileinto (with flags and :create), discard, reject or
// ereject, redirect (with :copy) and vacation replies ready to queue — and
// the caller carries them out. RunAll runs a domain's policy script and
// then the user's script as one pass. Extensions lists the capabilities
// for ManageSieve's SIEVE line; the sub-package rules writes and reads the
// scripts of the dashboard's simple rule editor.
//
// The filter verdict is visible to scripts as the header field
// "X-Yubin-Junk: yes" (or "no"); a field of that name in the message is
// hidden. A keep of a junk message means the Junk mailbox; a script that
// wants such a message in INBOX says fileinto "INBOX".
//
// # Errors and the delivery contract
//
// Run is bounded: the number of actions and of redirects, the steps of
// work (each command, test and a share of each comparison counts), the
// memory held in variables, and the body bytes read are all capped by
// Limits. When Run returns an error — a *RuntimeError naming the line and
// column, an error wrapping ErrLimit, or the context's error — no action
// of the script may be carried out: the caller logs the error and delivers
// the message to INBOX, as if the script had said "keep". A script can
// therefore never make Yubin lose a message.
//
// # Vacation
//
// Run decides whether a vacation reply is due: never for junk, for the null
// sender, for system and list senders (MAILER-DAEMON, owner-*, *-request),
// for mail with List-* fields, Precedence bulk/list/junk or
// Auto-Submitted other than "no", and only when one of the user's
// addresses is in To, Cc or Bcc; and not if Environment.VacationSeen says
// this sender had a reply with the same handle within the period. The
// returned VacationReply carries the whole message (Auto-Submitted:
// auto-replied, In-Reply-To and References set); the caller sends it with
// an empty envelope sender and then records the sender and handle.
package sieve
