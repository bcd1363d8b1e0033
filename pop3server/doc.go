// Package pop3server implements a POP3 server: RFC 1939 with the CAPA command and
// extended response codes of RFC 2449, SASL authentication (AUTH PLAIN) of
// RFC 5034 and STLS of RFC 2595.
//
// The server speaks the protocol; a Backend authenticates users and gives
// access to their Maildrop. NewStoreBackend adapts the mailstore, whose INBOX
// is the maildrop shared with IMAP.
//
// A session reads one command line at a time (pipelined commands are
// answered in order), with bounded line length, an idle timeout and a cap
// on bad commands. In the TRANSACTION state it works on a snapshot of the
// maildrop taken at login; messages marked with DELE are removed only when
// the client sends QUIT (the UPDATE state), never when the connection drops,
// times out or the server is closed. One session per maildrop may be in the
// TRANSACTION state at a time.
//
// Passwords travel in clear text inside the protocol, so USER/PASS and AUTH
// are only offered over TLS (STLS, or an implicit-TLS listener wrapped by the
// caller) unless Options.InsecureAuth allows them, which by default it does
// for loopback clients only.
package pop3server
