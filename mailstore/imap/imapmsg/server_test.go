package imapmsg

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
)

// testMsg is one message served by testSession.
type testMsg struct {
	raw     []byte
	flags   []imap.Flag
	date    time.Time
	size    int64 // Facts.Size; -1 means len(raw)
	openErr error
}

// facts returns the Facts testSession passes for the message.
func (m *testMsg) facts(seq uint32) *Facts {
	size := m.size
	if size < 0 {
		size = int64(len(m.raw))
	}
	return &Facts{
		SeqNum:       seq,
		UID:          imap.UID(seq * 10),
		Flags:        m.flags,
		InternalDate: m.date,
		Size:         size,
		ModSeq:       uint64(seq),
	}
}

// opener returns the Opener testSession passes for the message.
func (m *testMsg) opener() Opener {
	return func() (io.ReadCloser, error) {
		if m.openErr != nil {
			return nil, m.openErr
		}
		return io.NopCloser(bytes.NewReader(m.raw)), nil
	}
}

// newTestMsg wraps raw bytes with default metadata.
func newTestMsg(raw []byte) *testMsg {
	return &testMsg{
		raw:   raw,
		flags: []imap.Flag{imap.FlagSeen, "$Label"},
		date:  time.Date(2024, 3, 1, 12, 30, 0, 0, time.FixedZone("", 3600)),
		size:  -1,
	}
}

// testSession is a minimal imapserver.Session with one read-only mailbox
// whose messages are served through Fetch and Match. Message i has
// sequence number i+1 and UID 10*(i+1).
type testSession struct {
	msgs []*testMsg
}

var errNotSupported = errors.New("not supported by the test session")

func (s *testSession) Close() error                                     { return nil }
func (s *testSession) Login(username, password string) error            { return nil }
func (s *testSession) Create(string, *imap.CreateOptions) error         { return errNotSupported }
func (s *testSession) Delete(string) error                              { return errNotSupported }
func (s *testSession) Rename(string, string, *imap.RenameOptions) error { return errNotSupported }
func (s *testSession) Subscribe(string) error                           { return errNotSupported }
func (s *testSession) Unsubscribe(string) error                         { return errNotSupported }
func (s *testSession) Poll(*imapserver.UpdateWriter, bool) error        { return nil }
func (s *testSession) Unselect() error                                  { return nil }
func (s *testSession) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	<-stop
	return nil
}
func (s *testSession) List(*imapserver.ListWriter, string, []string, *imap.ListOptions) error {
	return nil
}
func (s *testSession) Status(string, *imap.StatusOptions) (*imap.StatusData, error) {
	return nil, errNotSupported
}
func (s *testSession) Append(string, imap.LiteralReader, *imap.AppendOptions) (*imap.AppendData, error) {
	return nil, errNotSupported
}
func (s *testSession) Expunge(*imapserver.ExpungeWriter, *imap.UIDSet) error { return errNotSupported }
func (s *testSession) Store(*imapserver.FetchWriter, imap.NumSet, *imap.StoreFlags, *imap.StoreOptions) error {
	return errNotSupported
}
func (s *testSession) Copy(imap.NumSet, string) (*imap.CopyData, error) {
	return nil, errNotSupported
}

func (s *testSession) Select(mailbox string, options *imap.SelectOptions) (*imap.SelectData, error) {
	return &imap.SelectData{
		NumMessages: uint32(len(s.msgs)),
		UIDNext:     imap.UID(10*len(s.msgs) + 10),
		UIDValidity: 1,
		Flags:       []imap.Flag{imap.FlagSeen},
	}, nil
}

// contains reports whether the message with sequence number seq is in set.
func (s *testSession) contains(set imap.NumSet, seq uint32) bool {
	max := uint32(len(s.msgs))
	switch set := set.(type) {
	case imap.SeqSet:
		return inSeqSet(set, seq, max)
	case imap.UIDSet:
		return inUIDSet(set, imap.UID(seq*10), imap.UID(max*10))
	}
	return false
}

func (s *testSession) Fetch(w *imapserver.FetchWriter, set imap.NumSet, options *imap.FetchOptions) error {
	var errs []error
	for i, m := range s.msgs {
		seq := uint32(i + 1)
		if !s.contains(set, seq) {
			continue
		}
		if err := Fetch(w.CreateMessage(seq), m.facts(seq), m.opener(), options); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *testSession) Search(kind imapserver.NumKind, c *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	sc := SearchContext{MaxSeqNum: uint32(len(s.msgs)), MaxUID: imap.UID(10 * len(s.msgs))}
	var seqs imap.SeqSet
	var uids imap.UIDSet
	for i, m := range s.msgs {
		seq := uint32(i + 1)
		ok, err := Match(c, m.facts(seq), m.opener(), sc)
		if err != nil {
			return nil, err
		}
		if ok {
			seqs.AddNum(seq)
			uids.AddNum(imap.UID(seq * 10))
		}
	}
	if kind == imapserver.NumKindUID {
		return &imap.SearchData{All: uids}, nil
	}
	return &imap.SearchData{All: seqs}, nil
}

// testServer is a loopback IMAP server serving one testSession.
type testServer struct {
	addr string
	logs *safeBuffer
}

// safeBuffer is a goroutine-safe log sink.
type safeBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *safeBuffer) Printf(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fmt.Fprintf(&b.buf, format+"\n", args...)
}

func (b *safeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServer serves msgs on 127.0.0.1 until the test ends.
func startServer(tb testing.TB, msgs []*testMsg) *testServer {
	tb.Helper()
	logs := &safeBuffer{}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &testSession{msgs: msgs}, nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapBinary: {}},
		InsecureAuth: true,
		Logger:       logs,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	tb.Cleanup(func() {
		srv.Close()
		<-done
		if strings.Contains(logs.String(), "panic") {
			tb.Errorf("server logged a panic:\n%s", logs)
		}
	})
	return &testServer{addr: ln.Addr().String(), logs: logs}
}

// dial connects an imapclient, logs in and selects INBOX.
func (s *testServer) dial(tb testing.TB) *imapclient.Client {
	tb.Helper()
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	c := imapclient.New(conn, nil)
	tb.Cleanup(func() { c.Close() })
	if err := c.Login("user", "pass").Wait(); err != nil {
		tb.Fatalf("login: %v", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		tb.Fatalf("select: %v", err)
	}
	return c
}

// fetchOne fetches one message and returns its buffer.
func fetchOne(tb testing.TB, c *imapclient.Client, seq uint32, options *imap.FetchOptions) (*imapclient.FetchMessageBuffer, error) {
	tb.Helper()
	msgs, err := c.Fetch(imap.SeqSetNum(seq), options).Collect()
	if len(msgs) == 0 {
		if err == nil {
			err = errors.New("no FETCH response")
		}
		return nil, err
	}
	return msgs[0], err
}

// rawConn is a line-level IMAP connection for items imapclient cannot ask
// for (RFC822, RFC822.HEADER, RFC822.TEXT) and for byte-exact responses.
type rawConn struct {
	conn net.Conn
	r    *bufio.Reader
	tag  int
}

// dialRaw connects, logs in and selects INBOX on a raw connection.
func (s *testServer) dialRaw(tb testing.TB) *rawConn {
	tb.Helper()
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	tb.Cleanup(func() { conn.Close() })
	rc := &rawConn{conn: conn, r: bufio.NewReader(conn)}
	if _, err := rc.r.ReadString('\n'); err != nil {
		tb.Fatalf("greeting: %v", err)
	}
	for _, cmd := range []string{"LOGIN user pass", "SELECT INBOX"} {
		if _, status, err := rc.cmd(cmd); err != nil || !strings.HasPrefix(status, "OK") {
			tb.Fatalf("%s: %q %v", cmd, status, err)
		}
	}
	return rc
}

// cmd sends a command and returns the untagged data (literals inline) and
// the tagged status line without the tag.
func (rc *rawConn) cmd(command string) (data, status string, err error) {
	rc.tag++
	tag := "T" + strconv.Itoa(rc.tag)
	rc.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(rc.conn, tag+" "+command+"\r\n"); err != nil {
		return "", "", err
	}
	var b strings.Builder
	for {
		line, err := rc.r.ReadString('\n')
		if err != nil {
			return b.String(), "", err
		}
		if strings.HasPrefix(line, tag+" ") {
			return b.String(), strings.TrimRight(line[len(tag)+1:], "\r\n"), nil
		}
		b.WriteString(line)
		for {
			// A line ending in {n} announces a literal of n bytes.
			trimmed := strings.TrimRight(line, "\r\n")
			i := strings.LastIndexByte(trimmed, '{')
			if i < 0 || !strings.HasSuffix(trimmed, "}") {
				break
			}
			n, perr := strconv.Atoi(trimmed[i+1 : len(trimmed)-1])
			if perr != nil {
				break
			}
			lit := make([]byte, n)
			if _, err := io.ReadFull(rc.r, lit); err != nil {
				return b.String(), "", err
			}
			b.Write(lit)
			if line, err = rc.r.ReadString('\n'); err != nil {
				return b.String(), "", err
			}
			b.WriteString(line)
		}
	}
}
