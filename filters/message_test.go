package filters

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
)

func TestNewMessage(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    map[string]string // header fields expected
		wantLen int               // number of header fields
	}{
		{
			name:    "normal",
			raw:     "From: a@example.org\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n folded\r\n\r\nbody\r\n",
			want:    map[string]string{"From": "a@example.org", "Subject": "=?utf-8?q?caf=C3=A9?= folded"},
			wantLen: 2,
		},
		{
			name:    "bare LF",
			raw:     "From: a@example.org\nTo: b@example.com\n\nbody\n",
			want:    map[string]string{"From": "a@example.org", "To": "b@example.com"},
			wantLen: 2,
		},
		{
			// A line that is no field is skipped, as the MTA and
			// core/mimeparse read headers.
			name:    "a line that is no field is skipped",
			raw:     "From: a@example.org\r\nthis is not a header line\r\nTo: b@example.com\r\n\r\nbody",
			want:    map[string]string{"From": "a@example.org", "To": "b@example.com"},
			wantLen: 2,
		},
		{
			name:    "no body",
			raw:     "From: a@example.org\r\n",
			want:    map[string]string{"From": "a@example.org"},
			wantLen: 1,
		},
		{
			name: "empty",
			raw:  "",
		},
		{
			name:    "huge header is cut",
			raw:     "From: a@example.org\r\nX-Big: " + strings.Repeat("x", 2*maxHeaderBytes) + "\r\n\r\nbody",
			want:    map[string]string{"From": "a@example.org"},
			wantLen: 2, // X-Big, cut
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := ConnInfo{HELO: "client.example.org"}
			env := Envelope{MailFrom: "a@example.org", Recipients: []string{"b@example.com"}}
			m := NewMessage(conn, env, strings.NewReader(tt.raw), int64(len(tt.raw)))
			if m.Conn != conn || m.Envelope.MailFrom != env.MailFrom || len(m.Envelope.Recipients) != 1 {
				t.Errorf("connection or envelope not kept: %+v %+v", m.Conn, m.Envelope)
			}
			if m.Size != int64(len(tt.raw)) {
				t.Errorf("Size = %d, want %d", m.Size, len(tt.raw))
			}
			for k, v := range tt.want {
				if got := m.Header.Get(k); got != v {
					t.Errorf("Header.Get(%q) = %q, want %q", k, got, v)
				}
			}
			if n := len(m.Header.Get("X-Big")); n > maxHeaderBytes {
				t.Errorf("parsed a header field of %d bytes", n)
			}
			if got := m.Header.Len(); got != tt.wantLen {
				t.Errorf("header has %d fields, want %d", got, tt.wantLen)
			}
		})
	}
}

func TestMessageOpen(t *testing.T) {
	raw := "Subject: test\r\n\r\n" + strings.Repeat("line\r\n", 10_000)
	m := NewMessage(ConnInfo{}, Envelope{}, strings.NewReader(raw), int64(len(raw)))

	// Each call starts from the beginning, also while others are read.
	partial := m.Open()
	if _, err := io.CopyN(io.Discard, partial, 100); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			b, err := io.ReadAll(m.Open())
			if err != nil || string(b) != raw {
				t.Errorf("Open read %d bytes, err %v; want the whole message", len(b), err)
			}
		})
	}
	wg.Wait()
	rest, err := io.ReadAll(partial)
	if err != nil || string(rest) != raw[100:] {
		t.Fatalf("first reader disturbed by the others: %d bytes, %v", len(rest), err)
	}
}

func TestVerdictRemovesHeader(t *testing.T) {
	v := Verdict{RemoveHeaders: []string{"Authentication-Results", "x-spam-flag"}}
	tests := []struct {
		key  string
		want bool
	}{
		{"Authentication-Results", true},
		{"authentication-results", true},
		{"X-Spam-Flag", true},
		{"X-Spam-Status", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := v.RemovesHeader(tt.key); got != tt.want {
			t.Errorf("RemovesHeader(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
}

func TestSanitizeHeaderValue(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"simple", "simple"},
		{"  padded\t", "padded"},
		{"folded\r\n\tvalue", "folded value"},
		{"a\r\nBcc: x@example.net", "a Bcc: x@example.net"},
		{"nul\x00and\x1bescape", "nulandescape"},
		{"utf-8 café", "utf-8 café"},
		{"multiple   spaces", "multiple spaces"},
		{"invalid \xff byte", "invalid \ufffd byte"},
	}
	for _, tt := range tests {
		if got := sanitizeHeaderValue(tt.in); got != tt.want {
			t.Errorf("sanitizeHeaderValue(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestOriginalHeader checks that later stages see the fields earlier ones
// added in Header, and the header as received in OriginalHeader.
func TestOriginalHeader(t *testing.T) {
	var seen []*Message
	record := &recordingFilter{name: "b", seen: func(m *Message) { seen = append(seen, m) }}
	first := &recordingFilter{name: "a", seen: func(m *Message) { seen = append(seen, m) },
		verdict: Verdict{AddHeaders: []HeaderField{{Key: "Authentication-Results", Value: "mx; spf=pass"}}}}
	c := NewChain(nil, Stage{Filter: first, Enabled: true}, Stage{Filter: record, Enabled: true})
	msg := testMessage()
	c.Check(context.Background(), msg)
	if len(seen) != 2 {
		t.Fatalf("%d stages ran", len(seen))
	}
	if o := seen[0].OriginalHeader(); seen[0].Header.Has("Authentication-Results") || o.Len() != msg.Header.Len() {
		t.Errorf("first stage: header %v, original %v", seen[0].Header, o)
	}
	if !seen[1].Header.Has("Authentication-Results") {
		t.Error("second stage does not see the added field")
	}
	if o := seen[1].OriginalHeader(); o.Has("Authentication-Results") || o.Len() != msg.Header.Len() {
		t.Errorf("second stage's original header has %d fields (added field: %v), want the %d received", o.Len(), o.Has("Authentication-Results"), msg.Header.Len())
	}
}

// recordingFilter calls seen with each message it checks.
type recordingFilter struct {
	name    string
	verdict Verdict
	seen    func(*Message)
}

func (f *recordingFilter) Name() string { return f.name }

func (f *recordingFilter) Check(_ context.Context, m *Message) (Verdict, error) {
	f.seen(m)
	return f.verdict, nil
}
