package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// fetchTimeout bounds the fetch of one policy.
const fetchTimeout = 30 * time.Second

// Resolver looks up the "_mta-sts" TXT records.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Options configure a Client.
type Options struct {
	// Resolver looks up TXT records. Required.
	Resolver Resolver
	// RootCAs verify the policy hosts' certificates; nil means the
	// system's roots (tests use their own CA).
	RootCAs *x509.CertPool
	// DialContext, if set, opens the connections to the policy hosts
	// (tests send them to loopback).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now returns the time; nil means time.Now.
	Now func() time.Time
	// Logger gets the fetch failures.
	Logger *slog.Logger
	// CacheFile, if set, keeps the cached policies across restarts (RFC
	// 8461 §5.1: a restart must not open a window for a downgrade).
	CacheFile string
}

// Client finds the MTA-STS policies of recipient domains (RFC 8461 §3.3
// and §5.1) and caches them for their max_age, fetching again when the
// domain's TXT record announces another id. It is safe for concurrent use.
type Client struct {
	opts Options
	http *http.Client
	log  *slog.Logger

	mu    sync.Mutex
	cache map[string]cached
}

// cached is a policy held for a domain.
type cached struct {
	policy  *Policy
	id      string
	expires time.Time
}

// savedPolicy is a cached policy in CacheFile.
type savedPolicy struct {
	Policy  string    `json:"policy"`
	ID      string    `json:"id"`
	Expires time.Time `json:"expires"`
}

// load reads CacheFile, keeping the policies still valid.
func (c *Client) load() {
	data, err := os.ReadFile(c.opts.CacheFile)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			c.log.Warn("MTA-STS: cannot read the policy cache", "file", c.opts.CacheFile, "err", err)
		}
		return
	}
	var saved map[string]savedPolicy
	if err := json.Unmarshal(data, &saved); err != nil {
		c.log.Warn("MTA-STS: policy cache unreadable; starting empty", "file", c.opts.CacheFile, "err", err)
		return
	}
	now := c.opts.Now()
	for domain, sp := range saved {
		p, err := Parse([]byte(sp.Policy))
		if err != nil || !now.Before(sp.Expires) {
			continue
		}
		c.cache[domain] = cached{policy: p, id: sp.ID, expires: sp.Expires}
	}
}

// save writes the cache to CacheFile (c.mu held), through a temporary
// file renamed over it.
func (c *Client) save() {
	if c.opts.CacheFile == "" {
		return
	}
	saved := make(map[string]savedPolicy, len(c.cache))
	for domain, h := range c.cache {
		saved[domain] = savedPolicy{Policy: h.policy.String(), ID: h.id, Expires: h.expires}
	}
	data, err := json.Marshal(saved)
	if err == nil {
		tmp := c.opts.CacheFile + ".tmp"
		if err = os.WriteFile(tmp, data, 0o600); err == nil {
			err = os.Rename(tmp, c.opts.CacheFile)
		}
	}
	if err != nil {
		c.log.Warn("MTA-STS: cannot write the policy cache", "file", c.opts.CacheFile, "err", err)
	}
}

// NewClient returns a Client.
func NewClient(o Options) *Client {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
		DialContext:         o.DialContext,
		TLSHandshakeTimeout: fetchTimeout,
		DisableKeepAlives:   true,
		Proxy:               nil, // policies are fetched directly
	}
	c := &Client{
		opts: o,
		log:  o.Logger,
		http: &http.Client{
			Transport: tr,
			Timeout:   fetchTimeout,
			// RFC 8461 §3.3: redirects must not be followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		cache: map[string]cached{},
	}
	if o.CacheFile != "" {
		c.load()
	}
	return c
}

// Lookup returns the policy of domain to apply now, or nil when it has
// none (or none could be found: the delivery then goes on as without
// MTA-STS). A policy of mode "none" is returned as it is.
func (c *Client) Lookup(ctx context.Context, domain string) *Policy {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	now := c.opts.Now()
	c.mu.Lock()
	held, ok := c.cache[domain]
	c.mu.Unlock()
	if ok && !now.Before(held.expires) {
		ok = false
	}
	id, err := c.recordID(ctx, domain)
	if err != nil || id == "" {
		// No valid record: a cached policy still holds (RFC 8461 §5.1).
		if err != nil {
			c.log.Debug("MTA-STS: no valid TXT record", "domain", domain, "err", err)
		}
		if ok {
			return held.policy
		}
		return nil
	}
	if ok && held.id == id {
		return held.policy
	}
	p, err := c.fetch(ctx, domain)
	if err != nil {
		c.log.Info("MTA-STS: cannot fetch the policy", "domain", domain, "err", err)
		if ok {
			return held.policy
		}
		return nil
	}
	c.mu.Lock()
	c.cache[domain] = cached{policy: p, id: id, expires: now.Add(p.MaxAge)}
	for d, h := range c.cache { // drop what expired
		if !now.Before(h.expires) {
			delete(c.cache, d)
		}
	}
	c.save()
	c.mu.Unlock()
	return p
}

// recordID returns the id of domain's "_mta-sts" TXT record, "" if it
// has none; several STSv1 records count as none (RFC 8461 §3.1).
func (c *Client) recordID(ctx context.Context, domain string) (string, error) {
	txts, err := c.opts.Resolver.LookupTXT(ctx, "_mta-sts."+domain)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return "", nil
		}
		return "", err
	}
	var ids []string
	for _, t := range txts {
		id, ours, err := ParseRecord(t)
		if !ours {
			continue
		}
		if err != nil {
			return "", err
		}
		ids = append(ids, id)
	}
	if len(ids) != 1 {
		if len(ids) > 1 {
			return "", errors.New("several STSv1 TXT records")
		}
		return "", nil
	}
	return ids[0], nil
}

// fetch gets the policy of domain from its policy host over HTTPS, the
// certificate verified for mta-sts.DOMAIN.
func (c *Client) fetch(ctx context.Context, domain string) (*Policy, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	url := "https://mta-sts." + domain + WellKnownPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return nil, fmt.Errorf("GET %s: media type %q, want text/plain", url, resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPolicySize+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	p, err := Parse(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return p, nil
}
