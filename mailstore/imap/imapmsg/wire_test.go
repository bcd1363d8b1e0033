package imapmsg

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/yubinmail/yubin/core/mimetext"
)

// scriptedServer answers a real IMAP client over a loopback socket with
// responses built by this package's formatters, so that a client nobody
// here wrote checks their syntax. fetch returns the data items of one
// message's FETCH response.
func scriptedServer(t *testing.T, fetch func(seq uint32) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				serveScript(conn, fetch)
			}()
		}
	}()
	return ln.Addr().String()
}

// serveScript runs one scripted connection: FETCH gets the fetch
// function's items, LOGOUT ends it, anything else is OK.
func serveScript(conn net.Conn, fetch func(seq uint32) string) {
	r := bufio.NewReader(conn)
	w := bufio.NewWriter(conn)
	defer w.Flush()
	w.WriteString("* OK [CAPABILITY IMAP4rev1] scripted\r\n")
	w.Flush()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			return
		}
		tag, cmd := fields[0], strings.ToUpper(fields[1])
		switch {
		case cmd == "FETCH" && len(fields) > 2:
			seq, err := strconv.ParseUint(fields[2], 10, 32)
			if err != nil {
				fmt.Fprintf(w, "%s BAD sequence\r\n", tag)
				break
			}
			fmt.Fprintf(w, "* %d FETCH (%s)\r\n%s OK done\r\n", seq, fetch(uint32(seq)), tag)
		case cmd == "LOGOUT":
			fmt.Fprintf(w, "* BYE\r\n%s OK bye\r\n", tag)
			return
		default:
			fmt.Fprintf(w, "%s OK done\r\n", tag)
		}
		w.Flush()
	}
}

// TestEnvelopeWithRealClient sends the ENVELOPE of every corpus message
// and of messages with source routes and Japanese names to go-imap's
// client, which must parse it to the same addresses and texts.
func TestEnvelopeWithRealClient(t *testing.T) {
	raws := []string{
		crlf("From: Relay <@a.example,@b.example:user@c.example>", "To: 山田 太郎 <taro@example.jp>", "Subject: =?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?=", "", "x"),
		crlf("From: \"Tab\there\" <t@example.com>", "Subject: line\x00with nul", "Cc: a@b, (comment only), g: ;", "", "x"),
	}
	for _, c := range corpus {
		raws = append(raws, c.raw)
	}
	envs := make([]*Envelope, len(raws))
	for i, raw := range raws {
		envs[i] = EnvelopeOf([]byte(raw))
	}
	addr := scriptedServer(t, func(seq uint32) string {
		return "ENVELOPE " + string(envs[seq-1].AppendIMAP(nil, quoteString))
	})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(conn, &imapclient.Options{WordDecoder: mimetext.WordDecoder})
	defer c.Close()
	for i, env := range envs {
		seq := uint32(i + 1)
		msgs, err := c.Fetch(imap.SeqSetNum(seq), &imap.FetchOptions{Envelope: true}).Collect()
		if err != nil || len(msgs) != 1 || msgs[0].Envelope == nil {
			t.Fatalf("message %d: FETCH ENVELOPE: %v (%d messages)", seq, err, len(msgs))
		}
		got := msgs[0].Envelope
		if want := mimetext.DecodeHeader(env.Subject); got.Subject != want {
			t.Errorf("message %d: subject %q, want %q", seq, got.Subject, want)
		}
		lists := [][2][]Address{{env.From}, {env.Sender}, {env.ReplyTo}, {env.To}, {env.Cc}, {env.Bcc}}
		gotLists := [][]imap.Address{got.From, got.Sender, got.ReplyTo, got.To, got.Cc, got.Bcc}
		for j, l := range lists {
			want := l[0]
			if len(gotLists[j]) != len(want) {
				t.Errorf("message %d list %d: %d addresses, want %d", seq, j, len(gotLists[j]), len(want))
				continue
			}
			for k, a := range want {
				g := gotLists[j][k]
				if g.Mailbox != a.Mailbox || g.Host != a.Host || g.Name != mimetext.DecodeHeader(a.Name) {
					t.Errorf("message %d list %d address %d: %+v, want %+v", seq, j, k, g, a)
				}
			}
		}
	}
	if err := c.Logout().Wait(); err != nil {
		t.Errorf("logout: %v", err)
	}
}
