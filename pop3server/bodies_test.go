package pop3server

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/blobcrypt"
)

// TestRETRBodiesExact: a pipelined download (RETR of every message and
// TOP, in one write) gives every message byte for byte, whether its body
// is kept inline in the database (read ahead in batches) or in a file,
// in plaintext or sealed (encryption at rest, one chunk or two).
func TestRETRBodiesExact(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		t.Run(fmt.Sprint("sealed=", sealed), func(t *testing.T) {
			t.Parallel()
			var mods []func(*mailstore.Options)
			if sealed {
				keyPath := filepath.Join(t.TempDir(), "server.key")
				if _, err := blobcrypt.GenerateKeyFile(keyPath); err != nil {
					t.Fatal(err)
				}
				mods = append(mods, func(o *mailstore.Options) {
					sealer, err := blobcrypt.LoadServerKey(keyPath, o.Dir)
					if err != nil {
						t.Fatal(err)
					}
					o.Sealer = sealer
				})
			}
			st, uid, inboxID := newTestStore(t, mods...)
			e := startTestEnv(t, st, uid, inboxID, nil, nil)
			var want []string
			for i := range 150 {
				size := 300 + i*97
				switch i {
				case 40:
					size = mailstore.DefaultInlineMax + 3000 // a file
				case 41:
					size = mailstore.DefaultInlineMax - 200 // inline; sealed, two chunks
				}
				msg := benchMessage(size)
				msg = strings.Replace(msg, "Subject: bench", fmt.Sprintf("Subject: message %d", i), 1)
				want = append(want, msg)
				if _, err := st.Deliver(context.Background(), mailstore.Delivery{
					Targets: []mailstore.DeliveryTarget{{UserID: uid}}, Body: strings.NewReader(msg)}); err != nil {
					t.Fatal(err)
				}
			}
			c := e.login()
			var cmds strings.Builder
			for i := range want {
				fmt.Fprintf(&cmds, "RETR %d\r\n", i+1)
			}
			cmds.WriteString("TOP 42 3\r\nRETR 1\r\n")
			if _, err := io.WriteString(c.conn, cmds.String()); err != nil {
				t.Fatal(err)
			}
			for i, msg := range want {
				c.expectPrefix(fmt.Sprintf("+OK %d octets", len(msg)))
				got, err := unstuff(c.body())
				if err != nil {
					t.Fatal(err)
				}
				if got != msg {
					t.Fatalf("RETR %d: %d bytes differ from the %d delivered", i+1, len(got), len(msg))
				}
			}
			c.expectPrefix("+OK")
			top, err := unstuff(c.body())
			if err != nil {
				t.Fatal(err)
			}
			head, body, _ := strings.Cut(want[41], "\r\n\r\n")
			lines := strings.SplitAfterN(body, "\r\n", 4)
			if wantTop := head + "\r\n\r\n" + strings.Join(lines[:3], ""); top != wantTop {
				t.Fatalf("TOP 42 3 = %q, want %q", top, wantTop)
			}
			c.expectPrefix("+OK")
			if got, _ := unstuff(c.body()); got != want[0] {
				t.Fatal("RETR 1 again differs")
			}
			c.cmdOK("QUIT")
		})
	}
}
