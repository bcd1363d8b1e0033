package managesieve

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// handler runs one command. It answers with s.respond; a returned error is
// a client error in the arguments, answered NO by dispatch.
type handler struct {
	fn     func(*session, *command) error
	states uint8 // bit 1<<state for each state the command is allowed in
}

const (
	inAny     = 1<<stateNotAuth | 1<<stateAuth
	inNotAuth = 1 << stateNotAuth
	inAuth    = 1 << stateAuth
)

var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		"CAPABILITY":     {(*session).cmdCapability, inAny},
		"LOGOUT":         {(*session).cmdLogout, inAny},
		"NOOP":           {(*session).cmdNoop, inAny},
		"STARTTLS":       {(*session).cmdStartTLS, inNotAuth},
		"AUTHENTICATE":   {(*session).cmdAuthenticate, inNotAuth},
		"UNAUTHENTICATE": {(*session).cmdUnauthenticate, inAuth},
		"HAVESPACE":      {(*session).cmdHaveSpace, inAuth},
		"PUTSCRIPT":      {(*session).cmdPutScript, inAuth},
		"CHECKSCRIPT":    {(*session).cmdCheckScript, inAuth},
		"LISTSCRIPTS":    {(*session).cmdListScripts, inAuth},
		"SETACTIVE":      {(*session).cmdSetActive, inAuth},
		"GETSCRIPT":      {(*session).cmdGetScript, inAuth},
		"DELETESCRIPT":   {(*session).cmdDeleteScript, inAuth},
		"RENAMESCRIPT":   {(*session).cmdRenameScript, inAuth},
	}
}

// dispatch runs cmd, or refuses it.
func (s *session) dispatch(cmd *command) {
	h, ok := handlers[cmd.name]
	switch {
	case !ok:
		s.errors++
		s.respond("NO", "", "Unknown command "+truncate(cmd.name, 40))
		return
	case h.states&(1<<s.state) == 0:
		s.errors++
		if s.state == stateNotAuth {
			s.respond("NO", "", cmd.name+" needs authentication first")
		} else {
			s.respond("NO", "", cmd.name+" is not allowed once authenticated")
		}
		return
	}
	if err := h.fn(s, cmd); err != nil {
		if errors.Is(err, errAnswered) {
			return
		}
		var se *errSyntax
		if errors.As(err, &se) {
			s.errors++
			s.respond("NO", se.code, se.msg)
			return
		}
		s.fail(cmd.name, err)
		return
	}
	s.errors = 0
}

// truncate shortens s to at most n bytes for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// args checks that cmd has between min and max arguments and that each is
// a string, and returns them.
func args(cmd *command, min, max int) ([]string, error) {
	if len(cmd.args) < min || len(cmd.args) > max {
		switch {
		case min == max && min == 0:
			return nil, syntaxf("%s takes no arguments", cmd.name)
		case min == max:
			return nil, syntaxf("%s takes %d arguments", cmd.name, min)
		default:
			return nil, syntaxf("%s takes %d to %d arguments", cmd.name, min, max)
		}
	}
	out := make([]string, len(cmd.args))
	for i, a := range cmd.args {
		if a.kind != argString {
			return nil, syntaxf("Argument %d of %s must be a quoted string or a literal", i+1, cmd.name)
		}
		out[i] = a.s
	}
	return out, nil
}

// checkName validates a script name (RFC 5804 §1.6): non-empty UTF-8,
// without control characters (U+0000–U+001F, U+007F–U+009F) or line and
// paragraph separators (U+2028, U+2029), and not too long.
func (s *session) checkName(name string) error {
	if name == "" {
		return syntaxf("Script name is empty")
	}
	if len(name) > s.srv.opts.MaxNameBytes {
		return syntaxf("Script name longer than %d octets", s.srv.opts.MaxNameBytes)
	}
	if !utf8.ValidString(name) {
		return syntaxf("Script name is not valid UTF-8")
	}
	for _, r := range name {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == 0x2028 || r == 0x2029 {
			return syntaxf("Script name contains a control character")
		}
	}
	return nil
}

// fail answers a backend error with the response code RFC 5804 gives it.
func (s *session) fail(cmdName string, err error) {
	var ise *InvalidScriptError
	switch {
	case errors.As(err, &ise):
		s.respond("NO", "", ise.Msg)
	case errors.Is(err, ErrNonexistent):
		s.respond("NO", "NONEXISTENT", "There is no script of that name")
	case errors.Is(err, ErrActive):
		s.respond("NO", "ACTIVE", "The active script cannot be deleted; deactivate it first")
	case errors.Is(err, ErrAlreadyExists):
		s.respond("NO", "ALREADYEXISTS", "A script of that name already exists")
	case errors.Is(err, ErrQuotaMaxScripts):
		s.respond("NO", "QUOTA/MAXSCRIPTS", "Too many scripts; delete one first")
	case errors.Is(err, ErrQuotaMaxSize):
		s.respond("NO", "QUOTA/MAXSIZE", "Script too large")
	case errors.Is(err, ErrRevoked):
		s.log.Info("ManageSieve session revoked", "err", err)
		s.respond("BYE", "", "Your credentials changed or your account was disabled; log in again")
		s.state = stateLogout
	case errors.Is(err, context.Canceled):
		s.respond("NO", "TRYLATER", "Server shutting down")
	default:
		s.log.Error("ManageSieve command failed", "command", cmdName, "err", err)
		s.respond("NO", "TRYLATER", "Cannot do that now; try again later")
	}
}

func (s *session) cmdCapability(cmd *command) error {
	if _, err := args(cmd, 0, 0); err != nil {
		return err
	}
	s.writeCapabilities()
	s.respond("OK", "", "Capability completed")
	return nil
}

func (s *session) cmdLogout(cmd *command) error {
	if _, err := args(cmd, 0, 0); err != nil {
		return err
	}
	s.respond("OK", "", "Logout completed")
	s.state = stateLogout
	return nil
}

// cmdNoop answers NOOP, echoing its optional tag (RFC 5804 §2.14).
func (s *session) cmdNoop(cmd *command) error {
	a, err := args(cmd, 0, 1)
	if err != nil {
		return err
	}
	code := ""
	if len(a) == 1 {
		code = "TAG " + quote(a[0])
	}
	s.respond("OK", code, "Done")
	return nil
}

func (s *session) cmdUnauthenticate(cmd *command) error {
	if _, err := args(cmd, 0, 0); err != nil {
		return err
	}
	s.log.Info("ManageSieve logout (UNAUTHENTICATE)", "user", s.scripts.Owner())
	s.scripts, s.state = nil, stateNotAuth
	s.log = s.srv.log.With("remote", s.remote.String())
	s.respond("OK", "", "Unauthenticate completed")
	return nil
}

func (s *session) cmdHaveSpace(cmd *command) error {
	if len(cmd.args) != 2 || cmd.args[0].kind != argString || cmd.args[1].kind != argAtom {
		return syntaxf("HAVESPACE takes a script name and a size")
	}
	name := cmd.args[0].s
	if err := s.checkName(name); err != nil {
		return err
	}
	size, err := strconv.ParseUint(cmd.args[1].s, 10, 32)
	if err != nil {
		return syntaxf("Invalid size %q", truncate(cmd.args[1].s, 20))
	}
	if int64(size) > s.srv.opts.MaxScriptSize {
		return &errSyntax{code: "QUOTA/MAXSIZE", msg: "Script larger than the limit of " + strconv.FormatInt(s.srv.opts.MaxScriptSize, 10) + " octets"}
	}
	if err := s.scripts.HaveSpace(s.ctx, name, int64(size)); err != nil {
		s.fail(cmd.name, err)
		return nil
	}
	s.respond("OK", "", "Putscript would succeed")
	return nil
}

func (s *session) cmdPutScript(cmd *command) error {
	a, err := args(cmd, 2, 2)
	if err != nil {
		return err
	}
	if err := s.checkName(a[0]); err != nil {
		return err
	}
	warnings, err := s.scripts.Put(s.ctx, a[0], a[1])
	if err != nil {
		return err
	}
	s.log.Info("ManageSieve script stored", "user", s.scripts.Owner(), "script", a[0], "octets", len(a[1]))
	s.okWithWarnings(warnings, "Script stored")
	return nil
}

func (s *session) cmdCheckScript(cmd *command) error {
	a, err := args(cmd, 1, 1)
	if err != nil {
		return err
	}
	warnings, err := s.scripts.Check(s.ctx, a[0])
	if err != nil {
		return err
	}
	s.okWithWarnings(warnings, "Script is valid")
	return nil
}

// okWithWarnings answers OK, with the WARNINGS code (RFC 5804 §1.3) and the
// warnings as text when there are any.
func (s *session) okWithWarnings(warnings []string, text string) {
	if len(warnings) > 0 {
		s.respond("OK", "WARNINGS", strings.Join(warnings, "\r\n"))
		return
	}
	s.respond("OK", "", text)
}

func (s *session) cmdListScripts(cmd *command) error {
	if _, err := args(cmd, 0, 0); err != nil {
		return err
	}
	list, err := s.scripts.List(s.ctx)
	if err != nil {
		return err
	}
	for _, sc := range list {
		if sc.Active {
			s.line(quote(sc.Name) + " ACTIVE")
		} else {
			s.line(quote(sc.Name))
		}
	}
	s.respond("OK", "", "Listscripts completed")
	return nil
}

func (s *session) cmdSetActive(cmd *command) error {
	a, err := args(cmd, 1, 1)
	if err != nil {
		return err
	}
	if a[0] != "" {
		if err := s.checkName(a[0]); err != nil {
			return err
		}
	}
	if err := s.scripts.SetActive(s.ctx, a[0]); err != nil {
		return err
	}
	if a[0] == "" {
		s.log.Info("ManageSieve scripts deactivated", "user", s.scripts.Owner())
		s.respond("OK", "", "No script is active now")
		return nil
	}
	s.log.Info("ManageSieve script activated", "user", s.scripts.Owner(), "script", a[0])
	s.respond("OK", "", "Script activated")
	return nil
}

func (s *session) cmdGetScript(cmd *command) error {
	a, err := args(cmd, 1, 1)
	if err != nil {
		return err
	}
	if err := s.checkName(a[0]); err != nil {
		return err
	}
	content, err := s.scripts.Get(s.ctx, a[0])
	if err != nil {
		return err
	}
	// Always a literal (RFC 5804 §2.9's example), whatever the content.
	s.line("{" + strconv.Itoa(len(content)) + "}")
	s.bw.WriteString(content)
	s.line("")
	s.respond("OK", "", "Getscript completed")
	return nil
}

func (s *session) cmdDeleteScript(cmd *command) error {
	a, err := args(cmd, 1, 1)
	if err != nil {
		return err
	}
	if err := s.checkName(a[0]); err != nil {
		return err
	}
	if err := s.scripts.Delete(s.ctx, a[0]); err != nil {
		return err
	}
	s.log.Info("ManageSieve script deleted", "user", s.scripts.Owner(), "script", a[0])
	s.respond("OK", "", "Script deleted")
	return nil
}

func (s *session) cmdRenameScript(cmd *command) error {
	a, err := args(cmd, 2, 2)
	if err != nil {
		return err
	}
	for _, n := range a {
		if err := s.checkName(n); err != nil {
			return err
		}
	}
	if err := s.scripts.Rename(s.ctx, a[0], a[1]); err != nil {
		return err
	}
	s.log.Info("ManageSieve script renamed", "user", s.scripts.Owner(), "from", a[0], "to", a[1])
	s.respond("OK", "", "Script renamed")
	return nil
}
