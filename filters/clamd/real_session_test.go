package clamd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestRealClamdSessions(t *testing.T) {
	clamd, sigtool := ensureClamd(t)
	rc := startClamdWith(t, clamd, sigtool, clamdOptions{tcp: true, extra: "StreamMaxLength 100K\n"})
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			addr := rc.client.Addr
			if network == "tcp" {
				addr = rc.tcpAddr
			}
			c := &Client{Addr: addr, Timeout: 30 * time.Second, MaxIdle: 8}
			defer c.Close()
			ctx := context.Background()
			clean := benchMail()
			infected := []byte(mimeMessage("virus", "eicar.com", eicar()))

			// One session serves scan after scan.
			for i := range 6 {
				data, want := clean, false
				if i%2 == 1 {
					data, want = infected, true
				}
				res, err := c.Scan(ctx, bytes.NewReader(data))
				if err != nil || res.Infected != want {
					t.Fatalf("scan %d = %+v, %v; want infected %v", i, res, err, want)
				}
				if want && res.Signature == "" {
					t.Errorf("scan %d: no signature", i)
				}
				if n := c.idleCount(); n != 1 {
					t.Fatalf("after scan %d: %d idle sessions, want 1", i, n)
				}
			}

			// Over StreamMaxLength: clamd replies and ends the session.
			_, err := c.Scan(ctx, bytes.NewReader(make([]byte, 200<<10)))
			if !errors.Is(err, ErrSizeLimit) {
				t.Fatalf("Scan of 200 kB: error = %v, want ErrSizeLimit", err)
			}
			if n := c.idleCount(); n != 0 {
				t.Errorf("%d idle sessions after the size limit, want 0", n)
			}
			if res, err := c.Scan(ctx, bytes.NewReader(infected)); err != nil || !res.Infected {
				t.Fatalf("Scan after the size limit = %+v, %v", res, err)
			}

			// Many scanners at once.
			const workers, scans = 20, 15
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range scans {
						data, want := clean, false
						if (w+i)%4 == 0 {
							data, want = infected, true
						}
						res, err := c.Scan(ctx, bytes.NewReader(data))
						if err != nil || res.Infected != want {
							errs <- fmt.Errorf("worker %d scan %d = %+v, %v; want infected %v", w, i, res, err, want)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if n := c.idleCount(); n == 0 || n > 8 {
				t.Errorf("%d idle sessions, want 1 to 8", n)
			}
		})
	}
}
