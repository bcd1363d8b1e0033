// Package imapserver is Yubin's IMAP4rev2 (RFC 9051) and IMAP4rev1
// (RFC 3501) server: the command parser, the response writer, the
// connection state machine and the command handlers.
//
// It serves mail through the Backend interface it declares; NewStoreBackend
// adapts the mailstore to it. A hub subscribed to the backend's change
// events keeps every session's view of its selected mailbox current, so
// that sessions see each other's changes (EXISTS, EXPUNGE, FETCH FLAGS) at
// the points RFC 9051 §7 allows. With NOTIFY (RFC 5465) the hub also
// queues every change of the user's mail for the session, and a goroutine
// per such session reports it between commands (notify.go); live SEARCH
// and SORT results (CONTEXT, RFC 5267) are updated wherever the session
// reports its mailbox's changes (context.go).
//
// The parser bounds everything a client controls: the length of a command
// line, the size and number of literals, the depth and number of search
// keys. A malformed command is answered BAD with a precise text and the
// session goes on; a non-synchronizing literal (LITERAL+, RFC 7888) of a
// refused command is read and discarded, never taken for commands.
//
// COMPRESS=DEFLATE (RFC 4978), offered with Options.Compress, keeps no
// compressor on an idle connection: the server's compressors are pooled
// between bursts of responses (see compress.go); a compressed connection
// keeps only its inflater (internal/inflate, which hands each command over
// as soon as its bits arrive, as zlib clients expect).
//
// Logging in (LOGIN, AUTHENTICATE PLAIN) requires TLS, except from clients
// that Options.InsecureAuth allows (by default loopback ones); elsewhere the
// server announces LOGINDISABLED and answers NO [PRIVACYREQUIRED].
package imapserver
