// Package imap serves the mailstore over IMAP4rev1 and IMAP4rev2 (RFC 3501,
// RFC 9051) with go-imap/v2's imapserver.
//
// The package adapts the mailstore to imapserver.Session and keeps every
// connection's view of its selected mailbox right while other connections,
// SMTP delivery and POP3 change it: a hub subscribes to the mailstore's
// change events and feeds them, per mailbox, into imapserver's
// MailboxTracker, which hands each session the EXISTS, EXPUNGE and FETCH
// FLAGS updates it has not seen yet and translates sequence numbers between
// the client's view and the current state.
//
// Logging in (LOGIN, AUTHENTICATE PLAIN) requires TLS, except from clients
// that Options.InsecureAuth allows (by default loopback ones); elsewhere the
// server announces LOGINDISABLED and answers NO [PRIVACYREQUIRED].
package imap
