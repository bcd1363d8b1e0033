// Package tlsrpt receives SMTP TLS reports (RFC 8460): it parses and
// checks the JSON reports other mail servers send about their TLS
// connections to ours, and keeps them as files in a folder of the data
// directory, the newest MaxReports.
package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Media types of reports posted over HTTPS (RFC 8460 §6.4, §6.5).
const (
	MediaJSON = "application/tlsrpt+json"
	MediaGzip = "application/tlsrpt+gzip"
)

// Size limits: a posted body and a report once decompressed.
const (
	MaxBodyBytes   = 1 << 20
	MaxReportBytes = 10 << 20
)

// MaxReports is how many reports are kept; older ones are removed.
const MaxReports = 1000

// Report is the part of a TLS report (RFC 8460 §4) that is checked and
// shown; the whole JSON document is kept.
type Report struct {
	OrganizationName string `json:"organization-name"`
	DateRange        struct {
		Start time.Time `json:"start-datetime"`
		End   time.Time `json:"end-datetime"`
	} `json:"date-range"`
	ContactInfo string   `json:"contact-info"`
	ReportID    string   `json:"report-id"`
	Policies    []Policy `json:"policies"`
}

// Policy is the result for one policy of a report.
type Policy struct {
	Policy struct {
		Type   string   `json:"policy-type"`
		String []string `json:"policy-string"`
		Domain string   `json:"policy-domain"`
		MXHost []string `json:"mx-host"`
	} `json:"policy"`
	Summary struct {
		Successful int64 `json:"total-successful-session-count"`
		Failed     int64 `json:"total-failure-session-count"`
	} `json:"summary"`
	FailureDetails []map[string]any `json:"failure-details"`
}

// Decode returns the JSON report of a posted body of media type mediaType
// (MediaJSON or MediaGzip).
func Decode(mediaType string, body []byte) ([]byte, error) {
	switch mediaType {
	case MediaJSON:
		return body, nil
	case MediaGzip:
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("tlsrpt: gzip: %w", err)
		}
		out, err := io.ReadAll(io.LimitReader(zr, MaxReportBytes+1))
		if err != nil {
			return nil, fmt.Errorf("tlsrpt: gzip: %w", err)
		}
		if len(out) > MaxReportBytes {
			return nil, fmt.Errorf("tlsrpt: report larger than %d bytes", MaxReportBytes)
		}
		return out, nil
	}
	return nil, fmt.Errorf("tlsrpt: media type %q: want %s or %s", mediaType, MediaJSON, MediaGzip)
}

// Parse parses and checks a JSON report: its organization, report id, date
// range and at least one policy with a domain and a known policy type.
func Parse(data []byte) (*Report, error) {
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("tlsrpt: %w", err)
	}
	switch {
	case strings.TrimSpace(r.OrganizationName) == "":
		return nil, errors.New("tlsrpt: no organization-name")
	case strings.TrimSpace(r.ReportID) == "":
		return nil, errors.New("tlsrpt: no report-id")
	case r.DateRange.Start.IsZero() || r.DateRange.End.Before(r.DateRange.Start):
		return nil, errors.New("tlsrpt: no valid date-range")
	case len(r.Policies) == 0:
		return nil, errors.New("tlsrpt: no policies")
	}
	for i, p := range r.Policies {
		switch p.Policy.Type {
		case "tlsa", "sts", "no-policy-found":
		default:
			return nil, fmt.Errorf("tlsrpt: policy %d: policy-type %q", i, p.Policy.Type)
		}
		if strings.TrimSpace(p.Policy.Domain) == "" {
			return nil, fmt.Errorf("tlsrpt: policy %d: no policy-domain", i)
		}
		if p.Summary.Successful < 0 || p.Summary.Failed < 0 {
			return nil, fmt.Errorf("tlsrpt: policy %d: negative session count", i)
		}
	}
	return &r, nil
}

// Domains returns the policy domains of r, lower case, sorted, once each.
func (r *Report) Domains() []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range r.Policies {
		d := strings.ToLower(strings.TrimSuffix(p.Policy.Domain, "."))
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// Stored is a kept report.
type Stored struct {
	ID         string          `json:"id"`
	ReceivedAt time.Time       `json:"received_at"`
	RemoteIP   string          `json:"remote_ip"`
	Report     json.RawMessage `json:"report"`
}

// Store keeps reports as files in a folder.
type Store struct {
	dir string
	max int // MaxReports
	mu  sync.Mutex
}

// Open returns the Store of dir, creating it.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tlsrpt: %w", err)
	}
	return &Store{dir: dir, max: MaxReports}, nil
}

// Add keeps a report (its JSON document, as checked by Parse) received
// from remoteIP and returns its id; beyond MaxReports the oldest go.
func (s *Store) Add(report []byte, remoteIP string, now time.Time) (string, error) {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	id := fmt.Sprintf("%d-%s", now.UnixNano(), hex.EncodeToString(rnd[:]))
	data, err := json.Marshal(Stored{ID: id, ReceivedAt: now.UTC(), RemoteIP: remoteIP, Report: json.RawMessage(report)})
	if err != nil {
		return "", fmt.Errorf("tlsrpt: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tmp := filepath.Join(s.dir, "."+id+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return "", fmt.Errorf("tlsrpt: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, id+".json")); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("tlsrpt: %w", err)
	}
	names, err := s.names()
	if err != nil {
		return id, nil
	}
	for len(names) > s.max {
		os.Remove(filepath.Join(s.dir, names[0]))
		names = names[1:]
	}
	return id, nil
}

// names returns the report files, oldest first.
func (s *Store) names() ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("tlsrpt: %w", err)
	}
	var out []string
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".json") && !strings.HasPrefix(n, ".") {
			out = append(out, n)
		}
	}
	// The ids start with the time in nanoseconds: equal lengths sort by time.
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) < len(out[j])
		}
		return out[i] < out[j]
	})
	return out, nil
}

// List returns the newest reports, at most limit.
func (s *Store) List(limit int) ([]Stored, error) {
	s.mu.Lock()
	names, err := s.names()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	out := []Stored{}
	for i := len(names) - 1; i >= 0 && len(out) < limit; i-- {
		data, err := os.ReadFile(filepath.Join(s.dir, names[i]))
		if err != nil {
			continue // removed meanwhile
		}
		var st Stored
		if err := json.Unmarshal(data, &st); err != nil {
			continue
		}
		out = append(out, st)
	}
	return out, nil
}
