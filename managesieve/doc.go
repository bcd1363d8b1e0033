// Package managesieve is a ManageSieve server (RFC 5804): mail clients
// such as Thunderbird's Sieve add-on, Roundcube's managesieve plugin and
// sieve-connect use it to upload, list, check, activate and remove a
// user's Sieve scripts.
//
// The server speaks the protocol only. It authenticates with SASL PLAIN
// (RFC 4616), over TLS (STARTTLS) unless the client is trusted without it
// (loopback by default), and throttles failed logins with the shared
// limits.AuthLimiter. The scripts live behind the Backend interface this
// package declares; the SIEVE capability lists what package sieve
// implements. Every command is bounded: command lines, quoted strings and
// literals have size limits, and a client error gets NO (or BYE when the
// stream cannot be resynchronised) while the server keeps serving.
package managesieve
