package pop3server

import "crypto/tls"

// cmdStls upgrades the connection to TLS (RFC 2595 §4). Anything the client
// sent after the STLS line, before the handshake, is discarded: it was not
// protected by TLS and must not be taken as a command.
func (s *session) cmdStls(cmd command) {
	if !s.arity(cmd, 0, 0) {
		return
	}
	if s.tls {
		s.reply("-ERR already using TLS")
		return
	}
	if s.srv.opts.TLSConfig == nil {
		s.reply("-ERR STLS is not available")
		return
	}
	s.reply("+OK begin TLS negotiation")
	if !s.flush() {
		return
	}
	if n := s.br.Buffered(); n > 0 {
		s.log.Warn("POP3 discarding data sent after STLS before the handshake", "bytes", n)
	}
	tc := tls.Server(s.sc.Conn(), s.srv.opts.TLSConfig)
	if err := s.handshake(tc); err != nil {
		s.log.Info("POP3 STLS handshake failed", "err", err)
		s.quit = true
		return
	}
	s.sc.Replace(tc)
	s.tls = true
	s.br = newLineReader(tc, s.srv.opts.MaxLineLength)
	st := tc.ConnectionState()
	s.log.Debug("POP3 STLS done", "version", tls.VersionName(st.Version), "cipher", tls.CipherSuiteName(st.CipherSuite))
}
