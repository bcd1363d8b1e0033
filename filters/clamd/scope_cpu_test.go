package clamd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestScopeCPU measures the CPU clamd spends per message in each Scope, the
// way zzexp/main.go does for raw scans: 20 concurrent scans over sessions,
// every message unique so that clamd's clean cache never hits. It runs only
// with YUBIN_CLAMD_CPU=1, against a clamd started with the test database:
//
//	YUBIN_CLAMD_CPU=1 go test -run TestScopeCPU -v ./filters/clamd/
//
// The text message is /tmp/benchmsg.eml when it exists.
func TestScopeCPU(t *testing.T) {
	if os.Getenv("YUBIN_CLAMD_CPU") != "1" {
		t.Skip("set YUBIN_CLAMD_CPU=1 to measure clamd's CPU per message")
	}
	clamd, sigtool := ensureClamd(t)
	rc := startClamdWith(t, clamd, sigtool, clamdOptions{})
	text, err := os.ReadFile("/tmp/benchmsg.eml")
	if err != nil {
		t.Logf("using benchMail: %v", err)
		text = benchMail()
	}
	// A small PDF-like attachment (about 6 kB).
	var pdf bytes.Buffer
	pdf.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	for i := range 60 {
		fmt.Fprintf(&pdf, "%d 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R >>\nendobj\n", i+3, i+100)
	}
	pdf.WriteString("trailer\n<< /Root 1 0 R >>\n%%EOF\n")

	seq := 0
	// uniqText returns copies of the text message with a counter written
	// 40 bytes before its end, as zzexp does.
	uniqText := func() string {
		seq++
		out := append([]byte(nil), text...)
		copy(out[len(out)-40:], fmt.Sprintf("%016d", seq))
		return string(out)
	}
	// uniqMultipart returns a message with a text part and the PDF, each
	// with a counter, so that no part is cached either.
	uniqMultipart := func() string {
		seq++
		id := fmt.Sprintf("%016d", seq)
		att := bytes.Replace(pdf.Bytes(), []byte("%%EOF"), []byte("% "+id+"\n%%EOF"), 1)
		return mail(multipartEnt("mixed", "=_bench_boundary",
			textPart("Hello,\r\n\r\nplease find the quarterly report attached ("+id+").\r\n\r\nRegards,\r\nAlice\r\n"),
			b64Part("report.pdf", string(att))))
	}
	cases := []struct {
		name string
		gen  func() string
		n    int
	}{
		{"text", uniqText, 3000},
		{"multipart+pdf", uniqMultipart, 600},
	}
	ctx := context.Background()
	for _, round := range []int{1, 2} {
		for _, cs := range cases {
			for _, scope := range []Scope{ScopeMessage, ScopeParts} {
				n := cs.n
				msgs := make([]string, n)
				for i := range msgs {
					msgs[i] = cs.gen()
				}
				flt := &Filter{Client: rc.client, Scope: scope}
				ch := make(chan string, n)
				for _, m := range msgs {
					ch <- m
				}
				close(ch)
				var wg sync.WaitGroup
				var detail string
				var once sync.Once
				c0, s0, start := clamdTicks(t, rc.pid), selfCPU(), time.Now()
				for range 20 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for m := range ch {
							v, err := flt.Check(ctx, testMessage(m))
							if err != nil || len(v.Evidence) != 1 || v.Evidence[0].Result != "clean" {
								t.Errorf("Check: %+v, %v", v, err)
								return
							}
							once.Do(func() { detail = v.Evidence[0].Detail })
						}
					}()
				}
				wg.Wait()
				el := time.Since(start)
				cpu := clamdTicks(t, rc.pid) - c0
				self := selfCPU() - s0
				t.Logf("round %d %-14s %-7s (%5d B, %q): %5.0f msgs/s, clamd CPU %.3f ms/msg, test process CPU %.3f ms/msg",
					round, cs.name, scope, len(msgs[0]), detail, float64(n)/el.Seconds(),
					float64(cpu)/float64(time.Millisecond)/float64(n), float64(self)/float64(time.Millisecond)/float64(n))
				if strings.Contains(detail, "fallback") {
					t.Errorf("%s fell back: %s", cs.name, detail)
				}
			}
		}
	}
}
