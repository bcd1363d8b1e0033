package imapserver

import "strings"

// The QUOTA extension (RFC 9208): one quota root, "", for all of a user's
// mailboxes, with the STORAGE (in units of 1024 octets) and MESSAGE
// resources the administrator set; another user's mailboxes shared with
// the user count against that user's root, "Other Users/<owner>" (see
// acl.go). Limits are set by the administrator, never over IMAP.

// writeQuota writes the QUOTA response of a root.
func (s *session) writeQuota(root string) error {
	q, err := s.acct.RootQuota(s.ctx, root)
	if err != nil {
		return s.storeErr("get the quota", err, "NONEXISTENT")
	}
	s.w.s(`* QUOTA `).str(root).s(` (`)
	sep := false
	if q.LimitBytes > 0 {
		s.w.s("STORAGE ").n64((q.UsedBytes + 1023) / 1024).sp().n64(q.LimitBytes / 1024)
		sep = true
	}
	if q.LimitMessages > 0 {
		if sep {
			s.w.sp()
		}
		s.w.s("MESSAGE ").n64(q.UsedMessages).sp().n64(q.LimitMessages)
	}
	s.w.s(")\r\n")
	return nil
}

// cmdGetQuotaRoot answers GETQUOTAROOT: the user's own mailboxes have
// the root "".
func (s *session) cmdGetQuotaRoot(c *command) error {
	name, err := s.spMailbox()
	if err != nil {
		return err
	}
	if err := s.r.end(); err != nil {
		return err
	}
	mb, err := s.acct.GetMailbox(s.ctx, name)
	if err != nil {
		return s.storeErr("get the quota root", err, "NONEXISTENT")
	}
	root, err := s.acct.QuotaRoot(s.ctx, mb)
	if err != nil {
		return s.storeErr("get the quota root", err, "NONEXISTENT")
	}
	s.w.s("* QUOTAROOT ").mailbox(mb.Name).sp().str(root).crlf()
	return s.writeQuota(root)
}

// cmdGetQuota answers GETQUOTA.
func (s *session) cmdGetQuota(c *command) error {
	if err := s.r.sp(); err != nil {
		return err
	}
	root, err := s.r.astring("a quota root")
	if err != nil {
		return err
	}
	if err := s.r.end(); err != nil {
		return err
	}
	return s.writeQuota(root)
}

// cmdSetQuota refuses SETQUOTA: quotas are the administrator's.
func (s *session) cmdSetQuota(c *command) error {
	if err := s.r.sp(); err != nil {
		return err
	}
	if _, err := s.r.astring("a quota root"); err != nil {
		return err
	}
	if err := s.r.sp(); err != nil {
		return err
	}
	if _, err := s.r.optionListPairs(); err != nil {
		return err
	}
	if err := s.r.end(); err != nil {
		return err
	}
	return noErr("NOPERM", "Quotas are set by the administrator")
}

// optionListPairs reads "(" [atom SP number *(SP atom SP number)] ")".
func (r *reader) optionListPairs() ([]string, error) {
	if err := r.expect('(', "a list of quota limits"); err != nil {
		return nil, err
	}
	var out []string
	for first := true; !r.accept(')'); first = false {
		if !first {
			if err := r.sp(); err != nil {
				return nil, err
			}
		}
		if len(out) >= 20 {
			return nil, badf("Too many quota limits")
		}
		a, err := r.atom("a quota resource")
		if err != nil {
			return nil, err
		}
		if err := r.sp(); err != nil {
			return nil, err
		}
		if _, err := r.number64("a limit"); err != nil {
			return nil, err
		}
		out = append(out, strings.ToUpper(a))
	}
	return out, nil
}
