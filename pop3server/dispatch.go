package pop3server

import "errors"

// handle parses and runs one command line.
func (s *session) handle(line []byte) {
	cmd, err := parseCommand(line)
	if err != nil {
		if errors.Is(err, errEmptyCommand) {
			s.bad("-ERR empty command")
		} else {
			s.bad("-ERR malformed command")
		}
		return
	}
	if cmd.name != "PASS" {
		s.pendingUser = ""
	}
	switch cmd.name {
	case "CAPA":
		s.cmdCapa(cmd)
		return
	case "QUIT":
		s.cmdQuit(cmd)
		return
	}
	if s.state == stateAuthorization {
		switch cmd.name {
		case "USER":
			s.cmdUser(cmd)
		case "PASS":
			s.cmdPass(cmd)
		case "AUTH":
			s.cmdAuth(cmd)
		case "STLS":
			s.cmdStls(cmd)
		case "APOP":
			s.bad("-ERR APOP is not supported; use USER/PASS or AUTH PLAIN")
		case "STAT", "LIST", "UIDL", "RETR", "TOP", "DELE", "RSET", "NOOP":
			s.bad("-ERR [AUTH] log in first")
		default:
			s.bad("-ERR unknown command")
		}
		return
	}
	switch cmd.name {
	case "STAT":
		s.cmdStat(cmd)
	case "LIST":
		s.cmdList(cmd)
	case "UIDL":
		s.cmdUidl(cmd)
	case "RETR":
		s.cmdRetr(cmd)
	case "TOP":
		s.cmdTop(cmd)
	case "DELE":
		s.cmdDele(cmd)
	case "RSET":
		s.cmdRset(cmd)
	case "NOOP":
		s.cmdNoop(cmd)
	case "USER", "PASS", "AUTH", "STLS", "APOP":
		s.bad("-ERR already logged in")
	default:
		s.bad("-ERR unknown command")
	}
}

// arity checks the number of arguments, answering a syntax error if it is
// outside [lo, hi].
func (s *session) arity(cmd command, lo, hi int) bool {
	if len(cmd.args) < lo || len(cmd.args) > hi {
		s.bad("-ERR syntax error in " + cmd.name)
		return false
	}
	return true
}
