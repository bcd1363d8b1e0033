package sieve_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/yubinmail/yubin/sieve"
)

// exampleEnv is what delivery implements over the mailstore.
type exampleEnv struct{}

func (exampleEnv) MailboxExists(context.Context, string) (bool, error) { return true, nil }
func (exampleEnv) VacationSeen(context.Context, string, string, time.Duration) (bool, error) {
	return false, nil
}
func (exampleEnv) Now() time.Time { return time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC) }

// Example shows how delivery uses the package: compile when the script is
// saved, run for each message, and fall back to INBOX on any error.
func Example() {
	script, err := sieve.Compile(`require ["fileinto", "imap4flags"];
if header :contains "subject" "invoice" {
    addflag "$Invoice";
    fileinto "Invoices";
}`, sieve.Limits{})
	if err != nil {
		fmt.Println("rejected when saved:", err)
		return
	}
	raw := "From: shop@example.net\r\nTo: ann@example.com\r\nSubject: Your invoice\r\n\r\nHello\r\n"
	hdr, body, _ := strings.Cut(raw, "\r\n\r\n")
	msg := &sieve.Message{
		Header:       []byte(hdr + "\r\n"),
		Body:         strings.NewReader(body),
		Size:         int64(len(raw)),
		EnvelopeFrom: "shop@example.net",
		EnvelopeTo:   "ann@example.com",
	}
	res, err := script.Run(context.Background(), msg, exampleEnv{}, sieve.RunOptions{
		UserAddresses:       []string{"ann@example.com"},
		SubaddressDelimiter: "+",
		Limits:              sieve.Limits{MaxRedirects: 3},
	})
	if err != nil {
		// Log err (it names the line and column) and store into INBOX.
		var re *sieve.RuntimeError
		fmt.Println("deliver to INBOX:", errors.As(err, &re))
		return
	}
	for _, a := range res.Actions {
		fmt.Println(a.Kind, a.Mailbox, a.Flags)
	}
	// Output:
	// fileinto Invoices [$Invoice]
}

// ExampleCompile shows the error a user sees when saving a bad script.
func ExampleCompile() {
	_, err := sieve.Compile("require \"fileinto\";\nif header :contains \"subject\" \"x\" {\n  fileinto \"a\"\n}\n", sieve.Limits{})
	fmt.Println(err)
	// Output:
	// line 4, column 1: expected ";" or a block after command "fileinto", found "}"
}
