// Package rspamd is a client for rspamd's /checkv2 HTTP endpoint and a
// filter that junks, defers or rejects messages as rspamd recommends.
package rspamd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/yubinmail/yubin/filters"
)

// Actions rspamd recommends.
const (
	ActionNoAction       = "no action"
	ActionGreylist       = "greylist"
	ActionAddHeader      = "add header"
	ActionRewriteSubject = "rewrite subject"
	ActionSoftReject     = "soft reject"
	ActionReject         = "reject"
	ActionDiscard        = "discard"
	ActionQuarantine     = "quarantine"
)

// maxResponseBytes bounds the JSON reply read from rspamd.
const maxResponseBytes = 4 << 20

// Symbol is a rule that matched.
type Symbol struct {
	Name        string   `json:"name"`
	Score       float64  `json:"score"`
	Description string   `json:"description,omitempty"`
	Options     []string `json:"options,omitempty"`
}

// Result is rspamd's reply to /checkv2.
type Result struct {
	// Action is the recommended action, e.g. "no action" or "reject".
	Action        string            `json:"action"`
	Score         float64           `json:"score"`
	RequiredScore float64           `json:"required_score"`
	Symbols       map[string]Symbol `json:"symbols"`
	// Messages holds messages from rspamd, e.g. "smtp_message", the
	// reply text to use when rejecting.
	Messages map[string]string `json:"messages"`
	// Subject is the rewritten subject for "rewrite subject".
	Subject   string `json:"subject"`
	IsSkipped bool   `json:"is_skipped"`
	MessageID string `json:"message-id"`
	// Error is set when rspamd failed to check the message.
	Error string `json:"error"`
}

// Client talks to one rspamd worker (normal or proxy).
type Client struct {
	// URL is the base URL of the worker, e.g. "http://127.0.0.1:11333".
	URL string
	// Timeout bounds each check, on top of the context's deadline. 0
	// means only the context bounds it.
	Timeout time.Duration
	// Password, if set, is sent in the Password header (needed by
	// workers that require it).
	Password string
	// HTTPClient is the client to use; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// Check posts msg to /checkv2 with its connection and envelope data and
// returns rspamd's result.
func (c *Client) Check(ctx context.Context, msg *filters.Message) (*Result, error) {
	if c.URL == "" {
		return nil, errors.New("rspamd: no URL configured")
	}
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.Timeout, fmt.Errorf("timed out after %v", c.Timeout))
		defer cancel()
	}
	body := msg.Open()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.URL, "/")+"/checkv2", body)
	if err != nil {
		return nil, fmt.Errorf("rspamd: %w", err)
	}
	req.ContentLength = msg.Size
	// Lets the transport resend the message on a stale kept-alive
	// connection.
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(msg.Open()), nil }
	req.Header.Set("Content-Type", "message/rfc822")
	setHeaders(req.Header, msg)
	if c.Password != "" {
		req.Header.Set("Password", c.Password)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("rspamd: %w", context.Cause(ctx))
		}
		return nil, fmt.Errorf("rspamd: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("rspamd: reading reply: %w", context.Cause(ctx))
		}
		return nil, fmt.Errorf("rspamd: reading reply: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("rspamd: HTTP %s: %s", resp.Status, snippet(data))
	}
	var res Result
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, fmt.Errorf("rspamd: bad reply: %w: %s", err, snippet(data))
	}
	if res.Error != "" {
		return nil, fmt.Errorf("rspamd: %s", res.Error)
	}
	if res.Action == "" {
		return nil, fmt.Errorf("rspamd: reply without action: %s", snippet(data))
	}
	return &res, nil
}

// setHeaders sets the rspamd protocol headers describing msg's connection
// and envelope.
func setHeaders(h http.Header, msg *filters.Message) {
	if a := msg.Conn.RemoteAddr.Addr(); a.IsValid() {
		h.Set("IP", a.Unmap().String())
	}
	if msg.Conn.HELO != "" {
		h.Set("Helo", headerSafe(msg.Conn.HELO))
	}
	from := msg.Envelope.MailFrom
	if from == "" {
		from = "<>"
	}
	h.Set("From", headerSafe(from))
	for _, rcpt := range msg.Envelope.Recipients {
		h.Add("Rcpt", headerSafe(rcpt))
	}
	if msg.Conn.AuthUser != "" {
		h.Set("User", headerSafe(msg.Conn.AuthUser))
	}
	// Hostname would be the client's verified host name, which we do not
	// have; MTA-Name is our own.
	if msg.Conn.Hostname != "" {
		h.Set("MTA-Name", headerSafe(msg.Conn.Hostname))
	}
}

// headerSafe removes characters that cannot appear in an HTTP header value.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// snippet returns the start of data for an error message.
func snippet(data []byte) string {
	data = bytes.TrimSpace(data)
	if len(data) > 200 {
		return string(data[:200]) + "..."
	}
	return string(data)
}
