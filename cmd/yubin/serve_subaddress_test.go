package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// TestSubaddressWiring: issue 19 item 1. YUBIN_SUBADDRESS_DELIMITER
// reaches the SMTP intake `yubin serve` starts: ann+news@ is accepted with
// "+" and refused (550 5.1.1) with subaddressing off.
func TestSubaddressWiring(t *testing.T) {
	for _, tc := range []struct {
		delims string
		code   int
	}{{"+", 250}, {"-+", 250}, {"", 550}} {
		t.Run("delims="+tc.delims, func(t *testing.T) {
			w, ln := testWiring(t, "smtp", "starttls")
			w.cfg.SubaddressDelimiters = tc.delims
			w.startSMTP()
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				w.sup.stopAll(ctx)
			})
			c, err := smtp.Dial(ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Hello("client.example.net"); err != nil {
				t.Fatal(err)
			}
			if err := c.Mail("", nil); err != nil {
				t.Fatal(err)
			}
			err = c.Rcpt("ann+news@example.test", nil)
			if tc.code == 250 {
				if err != nil {
					t.Fatalf("RCPT: %v", err)
				}
				return
			}
			var se *smtp.SMTPError
			if !errors.As(err, &se) || se.Code != tc.code || se.EnhancedCode != (smtp.EnhancedCode{5, 1, 1}) {
				t.Fatalf("RCPT: %v, want %d 5.1.1", err, tc.code)
			}
		})
	}
}
