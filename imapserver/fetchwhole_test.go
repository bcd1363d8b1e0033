package imapserver

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/mailstore"
)

// fetchedResponse is one response line with the literals it carried.
type fetchedResponse struct {
	text     string   // the line, literals shown as {n}
	literals [][]byte // their bytes
}

// readLiteralResponses reads responses from br up to the one tagged tag,
// keeping the bytes of every literal ({n} and ~{n}).
func readLiteralResponses(t testing.TB, br *bufio.Reader, tag string) []fetchedResponse {
	t.Helper()
	var out []fetchedResponse
	for {
		var r fetchedResponse
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v (got %q)", err, l)
			}
			r.text += strings.TrimRight(l, "\r\n")
			open := strings.LastIndexByte(l, '{')
			if open < 0 || !strings.HasSuffix(l, "}\r\n") {
				break
			}
			n, err := strconv.Atoi(strings.TrimSuffix(l[open+1:len(l)-3], "+"))
			if err != nil {
				break
			}
			lit := make([]byte, n)
			if _, err := io.ReadFull(br, lit); err != nil {
				t.Fatalf("literal of %d bytes: %v", n, err)
			}
			r.literals = append(r.literals, lit)
		}
		out = append(out, r)
		if strings.HasPrefix(r.text, tag+" ") {
			return out
		}
	}
}

// exactSize is a message of exactly n bytes (n > 200), with headers.
func exactSize(name string, n int) []byte {
	head := "From: bob@example.org\r\nSubject: " + name + "\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\n\r\n"
	return []byte((head + bigBody(n))[:n])
}

// TestFetchWholeBytesExact checks that whole-message FETCH items
// (BODY.PEEK[], BODY[], RFC822), which are sent from the stored bytes
// without parsing (from memory, through the buffer, or by sendfile), give
// exactly what was appended, alone and among other items and other
// messages: over plain TCP, STARTTLS and COMPRESS DEFLATE, with and
// without encryption at rest, for bodies around every size where the way
// of reading or sending them changes (one read into memory up to 64 KiB,
// sendfile from 16 KiB, several encrypted chunks above 64 KiB).
func TestFetchWholeBytesExact(t *testing.T) {
	msgs := [][]byte{
		[]byte("From: a@example.org\r\nSubject: nul and bare LF\r\n\r\nbinary\x00part\nwith a bare LF\r\n\x00\r\n"),
		exactSize("small", 300),
		exactSize("below sendfile", sendfileMin-1),
		exactSize("at sendfile", sendfileMin),
		exactSize("64 KiB", 64<<10),
		exactSize("64 KiB + 1", 64<<10+1),
		exactSize("200 KiB", 200<<10),
		exactSize("small after large", 500),
	}
	for _, sealed := range []bool{false, true} {
		var storeMod func(*mailstore.Options)
		name := "plain"
		if sealed {
			storeMod, name = sealedStore(t), "sealed"
		}
		env := newTestEnvStore(t, storeMod, func(o *Options) { o.Compress = true })
		a := loggedIn(t, env)
		for i, m := range msgs {
			// literal8 with LITERAL+: the bytes are stored as given.
			tag := fmt.Sprintf("ap%d", i)
			a.send(fmt.Sprintf("%s APPEND INBOX ~{%d+}\r\n%s", tag, len(m), m))
			l := a.line()
			for strings.HasPrefix(l, "* ") {
				l = a.line()
			}
			if !strings.HasPrefix(l, tag+" OK") {
				t.Fatalf("APPEND %d: %s", i, l)
			}
		}
		for _, transport := range []string{"tcp", "tls", "deflate"} {
			t.Run(name+"/"+transport, func(t *testing.T) {
				r := dialRaw(t, env.addr)
				if transport == "tls" {
					r.startTLS(env.clientTLS)
				}
				if _, tagged := r.cmd("a", fmt.Sprintf("LOGIN %s \"%s\"", testAddr, testPass)); !strings.HasPrefix(tagged, "a OK") {
					t.Fatalf("LOGIN: %s", tagged)
				}
				if _, tagged := r.cmd("b", "SELECT INBOX"); !strings.HasPrefix(tagged, "b OK") {
					t.Fatalf("SELECT: %s", tagged)
				}
				r.c.SetDeadline(time.Now().Add(time.Minute))
				send, br := r.send, r.br
				if transport == "deflate" {
					z, resp := compress(t, r, "n", "NOOP")
					if !strings.HasPrefix(resp[len(resp)-1], "n OK") {
						t.Fatalf("NOOP: %q", resp)
					}
					send, br = z.send, z.br
				}
				for _, tc := range []struct {
					items string
					// want is the literals of message i's response.
					want func(m []byte) [][]byte
				}{
					{"BODY.PEEK[]", func(m []byte) [][]byte { return [][]byte{m} }},
					{"(UID RFC822.SIZE BODY.PEEK[] FLAGS)", func(m []byte) [][]byte { return [][]byte{m} }},
					{"(BODY.PEEK[] BODY.PEEK[]<3.40>)", func(m []byte) [][]byte { return [][]byte{m, m[3:43]} }},
					{"RFC822", func(m []byte) [][]byte { return [][]byte{m} }},
					{"BODY[]", func(m []byte) [][]byte { return [][]byte{m} }},
				} {
					send("f FETCH 1:* " + tc.items)
					resp := readLiteralResponses(t, br, "f")
					if tagged := resp[len(resp)-1].text; !strings.HasPrefix(tagged, "f OK") {
						t.Fatalf("FETCH %s: %s", tc.items, tagged)
					}
					var fetches []fetchedResponse
					for _, r := range resp[:len(resp)-1] {
						if strings.Contains(r.text, " FETCH (") && len(r.literals) > 0 {
							fetches = append(fetches, r)
						}
					}
					if len(fetches) != len(msgs) {
						t.Fatalf("FETCH %s: %d responses with bodies, want %d: %q", tc.items, len(fetches), len(msgs), resp)
					}
					for i, f := range fetches {
						if !strings.HasPrefix(f.text, fmt.Sprintf("* %d FETCH (", i+1)) {
							t.Fatalf("FETCH %s: response %d is %q", tc.items, i, f.text)
						}
						want := tc.want(msgs[i])
						if len(f.literals) != len(want) {
							t.Fatalf("FETCH %s of %d: %d literals, want %d", tc.items, i+1, len(f.literals), len(want))
						}
						for k := range want {
							if !bytes.Equal(f.literals[k], want[k]) {
								t.Fatalf("FETCH %s of %d: literal %d differs (%d bytes, want %d)", tc.items, i+1, k, len(f.literals[k]), len(want[k]))
							}
						}
					}
				}
				r.c.SetDeadline(time.Time{})
			})
		}
	}
}

// TestFetchWholeAllocations bounds the heap allocations of a whole-body
// FETCH of small messages, per message, server and client together: the
// body is sent from the stored bytes, not parsed (about 15 allocations
// more per message) nor copied into a new buffer, a sealed one is
// decrypted in place, and numbers are written without a scratch
// allocation each. What is left is mostly the metadata row (about 11) and
// the opening of the body (3). Before this test there were 38. A count, not a time: the machine's load
// does not change it.
func TestFetchWholeAllocations(t *testing.T) {
	const messages = 200
	for _, tc := range []struct {
		sealed, inline bool
		// limit is what the code made when this test was written, plus
		// three (a reading of a sealed body costs a few more). Bodies
		// kept inline in the database are read in batches, one query for
		// up to 64 (database/sql and the driver: about 6 more per body;
		// one query each cost about 20 more).
		limit float64
	}{{false, false, 16}, {true, false, 19}, {false, true, 22}, {true, true, 25}} {
		sealed := tc.sealed
		storeMod := func(o *mailstore.Options) {
			if !tc.inline {
				o.InlineMax = -1
			}
		}
		if sealed {
			seal := sealedStore(t)
			storeMod = func(o *mailstore.Options) {
				seal(o)
				if !tc.inline {
					o.InlineMax = -1
				}
			}
		}
		env := newTestEnvStore(t, storeMod, nil)
		for i := 0; i < messages; i++ {
			env.deliver(t, testMessage(fmt.Sprint("allocs ", i), "bob@example.org", bigBody(4000)))
		}
		r := loggedIn(t, env)
		fetch := func() {
			lines, _, tagged, err := r.skim("FETCH 1:* BODY.PEEK[]")
			if err != nil || lines != messages || !strings.HasPrefix(tagged, "t OK") {
				t.Fatalf("FETCH: %d responses, %q, %v", lines, tagged, err)
			}
		}
		fetch() // warm: pools filled, file keys cached
		perMessage := testing.AllocsPerRun(5, fetch) / messages
		t.Logf("sealed %v, inline %v: %.1f allocations per message", sealed, tc.inline, perMessage)
		if perMessage > tc.limit {
			t.Errorf("sealed %v, inline %v: a whole-body FETCH makes %.1f allocations per message, more than %.0f", sealed, tc.inline, perMessage, tc.limit)
		}
	}
}
