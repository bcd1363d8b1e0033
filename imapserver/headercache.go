package imapserver

import (
	"bytes"
	"io"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/imap/imapmsg"
)

// The store's header cache (mailstore.MessageMeta.CachedHeader): the
// header fields that ENVELOPE, SORT, THREAD and the SEARCH keys on
// addresses, subject, date and those header fields read, kept per body.
// A command that needs only those lists the messages with it (one query)
// and answers without opening a message; a message without one is read as
// before. The answers are the same by construction (see
// imapmsg.CachedHeader).

// listMessages lists the messages of the selected mailbox in set (nil:
// all), with what need asks for.
func (s *session) listMessages(set mailstore.UIDSet, need listNeed) ([]mailstore.MessageMeta, error) {
	switch need {
	case needHeaders:
		return s.acct.ListMessagesWithHeaders(s.ctx, s.sel.mailbox.ID, set)
	case needFlags:
		return s.acct.ListMessageFlags(s.ctx, s.sel.mailbox.ID, set)
	case needBodies:
		return s.acct.ListMessageBodies(s.ctx, s.sel.mailbox.ID, set)
	}
	return s.acct.ListMessages(s.ctx, s.sel.mailbox.ID, set)
}

// searchOpener opens what a search of criteria needs of m: its cached
// header when that holds everything the criteria read, else its bytes.
func (s *session) searchOpener(criteria *imap.SearchCriteria, m *mailstore.MessageMeta) imapmsg.Opener {
	if m.CachedHeader != nil && imapmsg.SearchCoveredByCachedHeader(criteria) {
		h := m.CachedHeader
		return func() (io.ReadCloser, error) { return cachedHeaderReader{bytes.NewReader(h)}, nil }
	}
	return s.opener(m)
}

// cachedHeaderReader reads a cached header; its Size lets imapmsg read it
// into one buffer of that size.
type cachedHeaderReader struct{ *bytes.Reader }

func (cachedHeaderReader) Close() error { return nil }

// headerOnly reports whether the only item of f that needs the message
// is ENVELOPE, which the cached header answers.
func (f *fetchRequest) headerOnly() bool {
	return f.envelope && !f.preview && !f.body && !f.bodyStructure && !f.rfc822 && !f.rfc822Header && !f.rfc822Text &&
		len(f.sections) == 0 && len(f.binary) == 0 && len(f.binarySize) == 0
}
