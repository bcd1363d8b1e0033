package pop3server

// cmdCapa lists the capabilities (RFC 2449 §5). USER and SASL are listed
// only where logging in is allowed; STLS only where it can be used.
func (s *session) cmdCapa(cmd command) {
	if !s.arity(cmd, 0, 0) {
		return
	}
	s.reply("+OK capability list follows")
	s.reply("TOP")
	if s.authAllowed() {
		s.reply("USER")
	}
	s.reply("UIDL")
	if s.authAllowed() {
		s.reply("SASL PLAIN")
	}
	if s.canSTLS() {
		s.reply("STLS")
	}
	s.reply("RESP-CODES")
	s.reply("AUTH-RESP-CODE")
	s.reply("PIPELINING")
	s.reply("EXPIRE NEVER")
	s.reply("IMPLEMENTATION Yubin")
	s.reply(".")
}

// authAllowed reports whether passwords may be sent on this connection.
func (s *session) authAllowed() bool { return s.tls || s.insecureOK }

// canSTLS reports whether STLS is available now.
func (s *session) canSTLS() bool {
	return s.state == stateAuthorization && !s.tls && s.srv.opts.TLSConfig != nil
}
