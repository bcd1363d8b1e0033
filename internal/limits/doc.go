// Package limits provides the abuse protection shared by the SMTP, IMAP and
// POP3 servers: a limiter for concurrent connections (in total and per remote
// IP address) and a limiter that slows down and then blocks repeated failed
// logins per IP address and per account.
//
// All types are safe for concurrent use and keep their memory bounded even
// when faced with millions of distinct addresses or account names.
package limits
