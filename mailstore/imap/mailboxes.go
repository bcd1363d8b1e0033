package imap

import (
	"errors"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
)

const delim = string(mailstore.Delimiter)

// Create implements imapserver.Session. A trailing delimiter is dropped
// and missing parents are created (RFC 9051 §6.3.4).
func (s *session) Create(name string, options *imap.CreateOptions) error {
	name = strings.TrimSuffix(name, delim)
	var use string
	if options != nil && len(options.SpecialUse) > 0 {
		if len(options.SpecialUse) > 1 {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCode("USEATTR"), Text: "Only one special use per mailbox"}
		}
		use = string(options.SpecialUse[0])
	}
	canon, err := mailstore.CanonicalMailboxName(name)
	if err != nil {
		return storeError(s.log, "create", err, imap.ResponseCodeNonExistent)
	}
	parts := strings.Split(canon, delim)
	for i := 1; i < len(parts); i++ {
		parent := strings.Join(parts[:i], delim)
		if _, err := s.srv.opts.Store.CreateMailbox(s.ctx, s.user.ID, parent, ""); err != nil && !errors.Is(err, core.ErrExists) {
			return storeError(s.log, "create", err, imap.ResponseCodeNonExistent)
		}
	}
	if _, err := s.srv.opts.Store.CreateMailbox(s.ctx, s.user.ID, canon, use); err != nil {
		if errors.Is(err, core.ErrInvalid) && use != "" {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCode("USEATTR"), Text: "Unsupported special use " + use}
		}
		return storeError(s.log, "create", err, imap.ResponseCodeNonExistent)
	}
	return nil
}

// Delete implements imapserver.Session. A mailbox with children cannot be
// deleted: the children would be left without a parent.
func (s *session) Delete(name string) error {
	canon, err := mailstore.CanonicalMailboxName(name)
	if err != nil {
		return storeError(s.log, "delete", err, imap.ResponseCodeNonExistent)
	}
	boxes, err := s.srv.opts.Store.ListMailboxes(s.ctx, s.user.ID)
	if err != nil {
		return storeError(s.log, "delete", err, imap.ResponseCodeNonExistent)
	}
	selected := false
	for _, mb := range boxes {
		if strings.HasPrefix(mb.Name, canon+delim) {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeHasChildren, Text: "Delete the mailbox's children first"}
		}
		// By ID: the selected mailbox may have been renamed since, by
		// this session or another.
		if mb.Name == canon && s.mailbox != nil && mb.ID == s.mailbox.ID {
			selected = true
		}
	}
	if selected {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeInUse, Text: "Cannot delete the selected mailbox; unselect it first"}
	}
	if err := s.srv.opts.Store.DeleteMailbox(s.ctx, s.user.ID, canon); err != nil {
		return storeError(s.log, "delete", err, imap.ResponseCodeNonExistent)
	}
	return nil
}

// Rename implements imapserver.Session.
func (s *session) Rename(name, newName string, _ *imap.RenameOptions) error {
	newName = strings.TrimSuffix(newName, delim)
	if err := s.srv.opts.Store.RenameMailbox(s.ctx, s.user.ID, name, newName); err != nil {
		return storeError(s.log, "rename", err, imap.ResponseCodeNonExistent)
	}
	return nil
}

// Subscribe implements imapserver.Session.
func (s *session) Subscribe(name string) error {
	if err := s.srv.opts.Store.SetSubscribed(s.ctx, s.user.ID, name, true); err != nil {
		return storeError(s.log, "subscribe", err, imap.ResponseCodeNonExistent)
	}
	return nil
}

// Unsubscribe implements imapserver.Session.
func (s *session) Unsubscribe(name string) error {
	if err := s.srv.opts.Store.SetSubscribed(s.ctx, s.user.ID, name, false); err != nil {
		return storeError(s.log, "unsubscribe", err, imap.ResponseCodeNonExistent)
	}
	return nil
}

// List implements imapserver.Session (LIST, LSUB, LIST-EXTENDED,
// LIST-STATUS, SPECIAL-USE and CHILDREN).
func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if options == nil {
		options = &imap.ListOptions{}
	}
	// imapserver drops empty patterns: LIST "" "" arrives without any.
	if len(patterns) == 0 || len(patterns) == 1 && patterns[0] == "" {
		// The hierarchy delimiter and root (RFC 9051 §6.3.9).
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: mailstore.Delimiter})
	}
	boxes, err := s.srv.opts.Store.ListMailboxes(s.ctx, s.user.ID)
	if err != nil {
		return storeError(s.log, "list", err, imap.ResponseCodeNonExistent)
	}
	slices.SortFunc(boxes, func(a, b mailstore.Mailbox) int {
		switch {
		case a.Name == mailstore.Inbox:
			return -1
		case b.Name == mailstore.Inbox:
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	names := make(map[string]bool, len(boxes))
	for _, mb := range boxes {
		names[mb.Name] = true
	}
	hasChildren := func(name string) bool {
		for n := range names {
			if strings.HasPrefix(n, name+delim) {
				return true
			}
		}
		return false
	}
	for i := range boxes {
		mb := &boxes[i]
		if !matchAny(mb.Name, ref, patterns) {
			continue
		}
		if options.SelectSubscribed && !mb.Subscribed {
			continue
		}
		if options.SelectSpecialUse && mb.SpecialUse == "" {
			continue
		}
		data := &imap.ListData{Delim: mailstore.Delimiter, Mailbox: mb.Name}
		if hasChildren(mb.Name) {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
		} else {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
		}
		if mb.Subscribed && (options.SelectSubscribed || options.ReturnSubscribed) {
			data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
		}
		if mb.SpecialUse != "" {
			data.Attrs = append(data.Attrs, imap.MailboxAttr(mb.SpecialUse))
		}
		if options.ReturnStatus != nil {
			st, err := s.status(mb, options.ReturnStatus)
			if err != nil {
				return err
			}
			data.Status = st
		}
		if err := w.WriteList(data); err != nil {
			return err
		}
	}
	return nil
}

// matchAny reports whether name matches one of the LIST patterns.
func matchAny(name, ref string, patterns []string) bool {
	for _, p := range patterns {
		if imapserver.MatchList(name, mailstore.Delimiter, ref, p) {
			return true
		}
		// INBOX is case-insensitive: "inbox" and "Inbox/%" patterns too.
		if strings.HasPrefix(strings.ToUpper(ref+p), mailstore.Inbox) &&
			imapserver.MatchList(name, mailstore.Delimiter, "", mailstore.Inbox+(ref + p)[len(mailstore.Inbox):]) {
			return true
		}
	}
	return false
}

// Status implements imapserver.Session.
func (s *session) Status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	mb, err := s.srv.opts.Store.GetMailbox(s.ctx, s.user.ID, name)
	if err != nil {
		return nil, storeError(s.log, "status", err, imap.ResponseCodeNonExistent)
	}
	return s.status(mb, options)
}

// status answers STATUS for mb.
func (s *session) status(mb *mailstore.Mailbox, options *imap.StatusOptions) (*imap.StatusData, error) {
	st, err := s.srv.opts.Store.Status(s.ctx, mb.ID)
	if err != nil {
		return nil, storeError(s.log, "status", err, imap.ResponseCodeNonExistent)
	}
	data := &imap.StatusData{Mailbox: mb.Name}
	if options.NumMessages {
		data.NumMessages = &st.Messages
	}
	if options.NumRecent {
		var zero uint32
		data.NumRecent = &zero
	}
	if options.UIDNext {
		data.UIDNext = imap.UID(st.UIDNext)
	}
	if options.UIDValidity {
		data.UIDValidity = st.UIDValidity
	}
	if options.NumUnseen {
		data.NumUnseen = &st.Unseen
	}
	if options.NumDeleted {
		data.NumDeleted = &st.Deleted
	}
	if options.Size {
		data.Size = &st.Size
	}
	if options.AppendLimit {
		limit := s.srv.opts.AppendLimit
		data.AppendLimit = &limit
	}
	return data, nil
}

// Append implements imapserver.Session. The message is stored (and
// synced) before the tagged OK; the quota is enforced.
func (s *session) Append(name string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	if r.Size() > int64(s.srv.opts.AppendLimit) {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: "Message exceeds APPENDLIMIT"}
	}
	flags := make([]string, 0, len(options.Flags))
	for _, f := range options.Flags {
		if f == "\\Recent" {
			continue
		}
		flags = append(flags, string(f))
	}
	res, err := s.srv.opts.Store.Append(s.ctx, s.user.ID, name, r, flags, options.Time)
	if err != nil {
		return nil, storeError(s.log, "append", err, imap.ResponseCodeTryCreate)
	}
	return &imap.AppendData{UID: imap.UID(res.UID), UIDValidity: res.UIDValidity}, nil
}
