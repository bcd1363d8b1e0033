package milter

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"

	"github.com/yubinmail/yubin/filters"
)

// v6Milter is a milter speaking protocol version 6 as libmilter does: it
// asks for the actions and protocol steps it is given at negotiation and
// records the commands it receives, answering continue where a reply is
// due (none for the steps it asked not to answer), and at the end of the
// message sends the modifications in mods.
type v6Milter struct {
	actions uint32
	steps   uint32
	mods    [][]byte // packets (code + data) sent before accept

	mu       sync.Mutex
	offered  [3]uint32
	commands []byte
}

func (m *v6Milter) serve(t *testing.T, ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go m.session(c)
	}
}

func (m *v6Milter) session(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	write := func(code byte, data []byte) {
		var hdr [5]byte
		binary.BigEndian.PutUint32(hdr[:4], uint32(len(data)+1))
		hdr[4] = code
		c.Write(append(hdr[:], data...))
	}
	noReply := map[byte]uint32{'C': 1 << 12, 'H': 1 << 13, 'M': 1 << 14, 'R': 1 << 15, 'L': 1 << 7, 'N': 1 << 18, 'B': 1 << 19}
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		data := make([]byte, binary.BigEndian.Uint32(hdr[:4])-1)
		if _, err := io.ReadFull(r, data); err != nil {
			return
		}
		code := hdr[4]
		m.mu.Lock()
		m.commands = append(m.commands, code)
		m.mu.Unlock()
		switch code {
		case 'O':
			m.mu.Lock()
			for i := range m.offered {
				m.offered[i] = binary.BigEndian.Uint32(data[4*i:])
			}
			m.mu.Unlock()
			out := make([]byte, 12)
			binary.BigEndian.PutUint32(out, 6)
			binary.BigEndian.PutUint32(out[4:], m.actions)
			binary.BigEndian.PutUint32(out[8:], m.steps)
			write('O', out)
		case 'D', 'A':
		case 'Q':
			return
		case 'E':
			for _, p := range m.mods {
				write(p[0], p[1:])
			}
			write('a', nil)
		default:
			if m.steps&noReply[code] == 0 {
				write('c', nil)
			}
		}
	}
}

func (m *v6Milter) seen() (offered [3]uint32, commands string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.offered, string(m.commands)
}

func startV6Milter(t *testing.T, m *v6Milter) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go m.serve(t, ln)
	return ln.Addr().String()
}

// cstr returns s NUL-terminated.
func cstr(s ...string) []byte {
	var b []byte
	for _, x := range s {
		b = append(append(b, x...), 0)
	}
	return b
}

// TestNegotiateV6 checks the negotiation libmilter milters need: version 6
// with every action we apply (SMFIF_CHGFROM and the others) and every step
// a milter may decline offered; the steps the milter declines are not sent
// (no connect, no HELO, no end of header here) nor answered where it asked
// for no reply (header fields), and its CHGFROM and other changes come
// back as the verdict's Rewrite.
func TestNegotiateV6(t *testing.T) {
	idx := func(i uint32, s ...string) []byte {
		b := binary.BigEndian.AppendUint32(nil, i)
		return append(b, cstr(s...)...)
	}
	m := &v6Milter{
		actions: uint32(gomilter.OptAddHeader | gomilter.OptChangeFrom | gomilter.OptChangeHeader | gomilter.OptAddRcpt | gomilter.OptRemoveRcpt | gomilter.OptChangeBody),
		steps:   uint32(gomilter.OptNoConnect | gomilter.OptNoHelo | gomilter.OptNoEOH | gomilter.OptNoHeaderReply),
		mods: [][]byte{
			append([]byte{'e'}, cstr("<bounce@example.org>")...),
			append([]byte{'+'}, cstr("<extra@example.com>")...),
			append([]byte{'-'}, cstr("<b@example.com>")...),
			append([]byte{'m'}, idx(1, "Subject", "rewritten")...),
			append([]byte{'i'}, idx(2, "X-Inserted", "yes")...),
			append([]byte{'b'}, "new body\n"...),
			append([]byte{'h'}, cstr("X-Added", "on top")...),
		},
	}
	f := &Filter{Addr: startV6Milter(t, m), Timeout: 10 * time.Second}
	v, err := f.Check(context.Background(), message("hello", "a@example.org", "b@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	offered, commands := m.seen()
	if offered[0] != 6 || offered[1] != uint32(offeredActions) || offered[2] != uint32(offeredSteps) {
		t.Errorf("offered version %d actions 0x%x steps 0x%x, want 6 0x%x 0x%x", offered[0], offered[1], offered[2], uint32(offeredActions), uint32(offeredSteps))
	}
	if offered[1]&uint32(gomilter.OptChangeFrom) == 0 {
		t.Error("SMFIF_CHGFROM not offered")
	}
	if strings.ContainsAny(commands, "CHN") {
		t.Errorf("commands %q include a declined step (C, H or N)", commands)
	}
	if !strings.Contains(commands, "M") || !strings.Contains(commands, "R") || !strings.Contains(commands, "L") || !strings.Contains(commands, "E") {
		t.Errorf("commands %q lack MAIL, RCPT, header or end of message", commands)
	}
	want := &filters.Rewrite{
		MailFrom: "bounce@example.org", ChangeMailFrom: true,
		AddRecipients: []string{"extra@example.com"}, RemoveRecipients: []string{"b@example.com"},
		HeaderEdits: []filters.HeaderEdit{{Key: "Subject", Value: "rewritten", Index: 1}, {Insert: true, Key: "X-Inserted", Value: "yes", Index: 2}},
		Body:        []byte("new body\n"), ReplaceBody: true,
	}
	if v.Action != filters.Accept || v.Rewrite == nil || v.Rewrite.MailFrom != want.MailFrom || !v.Rewrite.ChangeMailFrom ||
		strings.Join(v.Rewrite.AddRecipients, ",") != "extra@example.com" || strings.Join(v.Rewrite.RemoveRecipients, ",") != "b@example.com" ||
		len(v.Rewrite.HeaderEdits) != 2 || v.Rewrite.HeaderEdits[0] != want.HeaderEdits[0] || v.Rewrite.HeaderEdits[1] != want.HeaderEdits[1] ||
		string(v.Rewrite.Body) != "new body\n" {
		t.Errorf("verdict %v, Rewrite %+v, want accept and %+v", v.Action, v.Rewrite, want)
	}
	if len(v.AddHeaders) != 1 || v.AddHeaders[0] != (filters.HeaderField{Key: "X-Added", Value: "on top"}) {
		t.Errorf("AddHeaders %v", v.AddHeaders)
	}
}

// TestNegotiateRefusesUnknownDemands checks that a milter asking for an
// action we did not offer is refused with an error (the stage's failure
// policy decides), not run as if we could honour it.
func TestNegotiateRefusesUnknownDemands(t *testing.T) {
	m := &v6Milter{actions: 1 << 9}
	f := &Filter{Addr: startV6Milter(t, m), Timeout: 10 * time.Second}
	_, err := f.Check(context.Background(), message("hello", "a@example.org", "b@example.com"))
	if err == nil || !strings.Contains(err.Error(), "actions 0x200") {
		t.Errorf("err = %v, want a refusal naming actions 0x200", err)
	}
}
