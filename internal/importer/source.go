package importer

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/yubinmail/yubin/core"
)

// The kinds of source.
const (
	KindMaildir = "maildir"
	KindMbox    = "mbox"
	KindIMAP    = "imap"
	KindIMAPS   = "imaps"
)

// Spec is a parsed SOURCE argument: maildir:PATH, mbox:PATH,
// imap://USER@HOST[:PORT] or imaps://USER@HOST[:PORT].
type Spec struct {
	Kind string
	Path string // maildir, mbox
	User string // imap, imaps
	Host string
	Port string
}

// ParseSpec parses a SOURCE. A password in an IMAP URL is refused: it
// would end up in shell histories and process lists.
func ParseSpec(s string) (Spec, error) {
	bad := func(msg string) (Spec, error) {
		return Spec{}, core.Invalid("source", msg)
	}
	switch {
	case strings.HasPrefix(s, "maildir:"), strings.HasPrefix(s, "mbox:"):
		kind, path, _ := strings.Cut(s, ":")
		if path == "" {
			return bad(kind + ": give the path, e.g. " + kind + ":/home/user/Maildir")
		}
		return Spec{Kind: kind, Path: path}, nil
	case strings.HasPrefix(s, "imap://"), strings.HasPrefix(s, "imaps://"):
		u, err := url.Parse(s)
		if err != nil {
			return bad("not a valid URL: " + err.Error())
		}
		if u.User == nil || u.User.Username() == "" {
			return bad("the URL needs the user name: " + u.Scheme + "://USER@HOST:PORT")
		}
		if _, has := u.User.Password(); has {
			return bad("put the password in --password or standard input, not in the URL")
		}
		if u.Hostname() == "" {
			return bad("the URL needs a host")
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return bad("the URL takes no path or query: " + u.Scheme + "://USER@HOST:PORT")
		}
		sp := Spec{Kind: u.Scheme, User: u.User.Username(), Host: u.Hostname(), Port: u.Port()}
		if sp.Port == "" {
			sp.Port = map[string]string{KindIMAP: "143", KindIMAPS: "993"}[sp.Kind]
		}
		return sp, nil
	}
	return bad("want maildir:PATH, mbox:PATH, imap://USER@HOST:PORT or imaps://USER@HOST:PORT")
}

// IsLocal reports whether the source is files on this machine.
func (s Spec) IsLocal() bool { return s.Kind == KindMaildir || s.Kind == KindMbox }

// HostPort is an IMAP source's server address.
func (s Spec) HostPort() string { return net.JoinHostPort(s.Host, s.Port) }

// String is the source as given (an IMAP one without password).
func (s Spec) String() string {
	if s.IsLocal() {
		return s.Kind + ":" + s.Path
	}
	u := url.URL{Scheme: s.Kind, User: url.User(s.User), Host: s.HostPort()}
	return u.String()
}

// MarkID is the name of an IMAP account in the import marks: the same for
// imap:// and imaps:// and any port, since they reach the same mailboxes.
func (s Spec) MarkID() string {
	return "imap://" + strings.ToLower(url.User(s.User).String()) + "@" + strings.ToLower(s.Host)
}

// Open opens the source; password is for IMAP.
func (s Spec) Open(ctx context.Context, password string, opts IMAPOptions) (Source, error) {
	switch s.Kind {
	case KindMaildir:
		return OpenMaildir(s.Path)
	case KindMbox:
		return OpenMbox(s.Path)
	case KindIMAP, KindIMAPS:
		return OpenIMAP(ctx, s, password, opts)
	}
	return nil, fmt.Errorf("unknown source kind %q", s.Kind)
}
