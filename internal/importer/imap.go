package importer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/yubinmail/yubin/core"
)

// IMAPOptions configure the connection to an IMAP server.
type IMAPOptions struct {
	// TLSConfig verifies the server's certificate; nil: the system's
	// roots for the host name.
	TLSConfig *tls.Config
	// Dial opens the TCP connection; nil: a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// imapSource reads the mailboxes of an account on an IMAP server.
type imapSource struct {
	id     string
	c      *imapclient.Client
	stop   func() bool // ends the watch that closes c when ctx ends
	mu     sync.Mutex
	closed bool
}

// OpenIMAP logs in to the server of spec (imap:// or imaps://) as its user.
// imaps:// is TLS from the start; imap:// upgrades with STARTTLS, which it
// requires unless the server is on loopback. The connection ends when ctx
// does.
func OpenIMAP(ctx context.Context, spec Spec, password string, opts IMAPOptions) (Source, error) {
	if spec.Kind != KindIMAP && spec.Kind != KindIMAPS {
		return nil, fmt.Errorf("not an IMAP source: %s", spec)
	}
	dial := opts.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	conn, err := dial(ctx, "tcp", spec.HostPort())
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", spec.HostPort(), err)
	}
	tlsConfig := opts.TLSConfig
	if tlsConfig == nil {
		tlsConfig = &tls.Config{ServerName: spec.Host}
	}
	copts := &imapclient.Options{TLSConfig: tlsConfig}
	var c *imapclient.Client
	switch {
	case spec.Kind == KindIMAPS:
		tc := tls.Client(conn, tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("TLS with %s: %w", spec.HostPort(), err)
		}
		c = imapclient.New(tc, copts)
	case isLoopback(conn.RemoteAddr()):
		c = imapclient.New(conn, copts)
	default:
		c, err = imapclient.NewStartTLS(conn, copts)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("STARTTLS with %s (use imaps:// for a server on port 993): %w", spec.HostPort(), err)
		}
	}
	s := &imapSource{id: spec.MarkID(), c: c}
	// Ending ctx closes the connection at once: a command waiting for an
	// answer fails, and no LOGOUT waits for a server that does not answer.
	s.stop = context.AfterFunc(ctx, func() { c.Close() })
	if err := c.WaitGreeting(); err != nil {
		s.Close()
		return nil, fmt.Errorf("greeting of %s: %w", spec.HostPort(), err)
	}
	if err := logIn(c, spec.User, password); err != nil {
		s.Close()
		var ie *imap.Error
		if errors.As(err, &ie) {
			return nil, fmt.Errorf("log in to %s as %s: %s: %w", spec.HostPort(), spec.User, ie.Text, core.ErrInvalid)
		}
		return nil, fmt.Errorf("log in to %s as %s: %w", spec.HostPort(), spec.User, err)
	}
	return s, nil
}

// logIn authenticates with LOGIN, or with AUTHENTICATE PLAIN on a server
// that disables LOGIN.
func logIn(c *imapclient.Client, user, password string) error {
	caps := c.Caps()
	if caps.Has(imap.CapLoginDisabled) && caps.Has(imap.AuthCap(sasl.Plain)) {
		return c.Authenticate(sasl.NewPlainClient("", user, password))
	}
	return c.Login(user, password).Wait()
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

func (s *imapSource) ID() string { return s.id }

func (s *imapSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.stop != nil {
		s.stop()
	}
	_ = s.c.Logout().Wait()
	return s.c.Close()
}

func (s *imapSource) Folders(ctx context.Context) ([]Folder, error) {
	var lopts *imap.ListOptions
	if s.c.Caps().Has(imap.CapSpecialUse) {
		lopts = &imap.ListOptions{ReturnSpecialUse: true}
	}
	list, err := s.c.List("", "*", lopts).Collect()
	if err != nil {
		return nil, fmt.Errorf("LIST: %w", err)
	}
	// A personal namespace under INBOX (Courier, cPanel: "INBOX.Sent")
	// holds the top-level folders: its prefix is not part of their names.
	prefix := ""
	if s.c.Caps().Has(imap.CapNamespace) {
		if ns, err := s.c.Namespace().Wait(); err == nil && len(ns.Personal) > 0 {
			prefix = ns.Personal[0].Prefix
		}
	}
	var folders []Folder
	for _, l := range list {
		f := Folder{Ref: l.Mailbox}
		noSelect := false
		for _, a := range l.Attrs {
			switch strings.ToLower(string(a)) {
			case `\noselect`, `\nonexistent`:
				noSelect = true
			case `\all`, `\archive`, `\drafts`, `\flagged`, `\junk`, `\sent`, `\trash`:
				f.SpecialUse = string(a)
			}
		}
		if noSelect {
			continue
		}
		name := l.Mailbox
		if prefix != "" && len(name) > len(prefix) && strings.EqualFold(name[:len(prefix)], prefix) {
			name = name[len(prefix):]
		}
		if l.Delim != 0 {
			f.Path = strings.Split(name, string(l.Delim))
		} else {
			f.Path = []string{name}
		}
		if strings.EqualFold(l.Mailbox, "INBOX") {
			f.Path, f.Ref = []string{"INBOX"}, "INBOX"
		} else if strings.EqualFold(f.Path[0], "INBOX") {
			f.Path[0] = "INBOX"
		}
		folders = append(folders, f)
	}
	return folders, nil
}

// imapFolder is a selected mailbox.
type imapFolder struct {
	c           *imapclient.Client
	name        string
	uidValidity uint32
	items       []Item
	uids        map[string]imap.UID
}

func (s *imapSource) Open(ctx context.Context, f Folder) (FolderReader, error) {
	sel, err := s.c.Select(f.Ref, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, fmt.Errorf("SELECT: %w", err)
	}
	mf := &imapFolder{c: s.c, name: f.Ref, uidValidity: sel.UIDValidity, uids: map[string]imap.UID{}}
	if sel.NumMessages == 0 {
		return mf, nil
	}
	all := imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}
	msgs, err := s.c.Fetch(all, &imap.FetchOptions{UID: true, RFC822Size: true}).Collect()
	if err != nil {
		return nil, fmt.Errorf("UID FETCH 1:* (UID RFC822.SIZE): %w", err)
	}
	for _, m := range msgs {
		key := imapItemKey(sel.UIDValidity, m.UID)
		if _, dup := mf.uids[key]; dup || m.UID == 0 {
			continue
		}
		mf.uids[key] = m.UID
		mf.items = append(mf.items, Item{Key: key, Size: m.RFC822Size})
	}
	return mf, nil
}

func imapItemKey(uidValidity uint32, uid imap.UID) string {
	return strconv.FormatUint(uint64(uidValidity), 10) + ":" + strconv.FormatUint(uint64(uid), 10)
}

func (f *imapFolder) Items() []Item { return f.items }
func (f *imapFolder) Close() error  { return nil }

// CheckMarks refuses to resume a folder whose UIDVALIDITY changed since
// the messages marked imported were read: its UIDs name other messages
// now, so which ones are in already cannot be told.
func (f *imapFolder) CheckMarks(done map[string]bool) error {
	if len(done) == 0 {
		return nil
	}
	prefix := strconv.FormatUint(uint64(f.uidValidity), 10) + ":"
	for k := range done {
		if strings.HasPrefix(k, prefix) {
			return nil
		}
	}
	return fmt.Errorf("mailbox %q: its UIDVALIDITY changed since an earlier import, which messages are in already cannot be told; "+
		"import it into an empty mailbox of another name: %w", f.name, core.ErrConflict)
}

// fetchBatch caps one UID FETCH of bodies.
const (
	fetchBatchMessages = 50
	fetchBatchBytes    = 8 << 20
)

func (f *imapFolder) Read(ctx context.Context, items []Item, fn func(*Message) error) error {
	for len(items) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, size := 0, int64(0)
		for n < len(items) && n < fetchBatchMessages && (n == 0 || size+items[n].Size <= fetchBatchBytes) {
			size += items[n].Size
			n++
		}
		batch := items[:n]
		items = items[n:]
		var set imap.UIDSet
		for _, it := range batch {
			set.AddNum(f.uids[it.Key])
		}
		body := &imap.FetchItemBodySection{Peek: true}
		msgs, err := f.c.Fetch(set, &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{body}}).Collect()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("UID FETCH %s: %w", set, err)
		}
		byUID := make(map[imap.UID]*imapclient.FetchMessageBuffer, len(msgs))
		for _, m := range msgs {
			byUID[m.UID] = m
		}
		for _, it := range batch {
			m := byUID[f.uids[it.Key]]
			if m == nil {
				continue // expunged meanwhile
			}
			msg := &Message{Item: it.Key, Date: m.InternalDate, Body: m.FindBodySection(body)}
			for _, fl := range m.Flags {
				msg.Flags = append(msg.Flags, string(fl))
			}
			if err := fn(msg); err != nil {
				return err
			}
		}
	}
	return nil
}
