package mailstore

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/yubinmail/yubin/core"
)

// DKIM key algorithms (the k= tag of the DNS record).
const (
	DKIMRSA     = "rsa"
	DKIMEd25519 = "ed25519"
)

// DKIMRSABits is the size of generated RSA keys.
const DKIMRSABits = 2048

// DKIMRetention is how long a key replaced by Rotate stays published (in
// Records) so that mail signed with it in flight still verifies.
const DKIMRetention = 7 * 24 * time.Hour

// dkimAlgorithms are the keys every domain gets, in signing order: RSA for
// every verifier, Ed25519 (RFC 8463) for those that know it.
var dkimAlgorithms = []string{DKIMRSA, DKIMEd25519}

// DKIMKeys keeps the DKIM signing keys of the local domains in a folder
// (normally <data>/dkim): for each domain a folder <domain> (0700) holding
// one PKCS #8 PEM file per key, <selector>.<alg>.pem (0600), and keys.json,
// which says which keys are active and which were retired when. Every file
// is written atomically (temporary file, fsync, rename, fsync of the
// folder); keys.json is written last, so a crash mid-generation leaves at
// worst an unused key file, overwritten next time.
//
// Selectors are yb<YYYYMM>r for RSA and yb<YYYYMM>e for Ed25519 (the month
// the key was made), with -2, -3... when a domain rotates more than once in
// a month.
//
// Keys are cached; a change made on disk by another process (the CLI) is
// seen at the next call, as keys.json is checked for changes.
type DKIMKeys struct {
	dir string
	now func() time.Time

	mu      sync.Mutex
	domains map[string]*dkimDomain
}

type dkimKeyState struct {
	Selector  string     `json:"selector"`
	Algorithm string     `json:"algorithm"`
	CreatedAt time.Time  `json:"created_at"`
	RetiredAt *time.Time `json:"retired_at,omitempty"`
}

type dkimState struct {
	Keys []dkimKeyState `json:"keys"`
}

// dkimDomain is a domain's keys as loaded.
type dkimDomain struct {
	state   dkimState
	signers map[string]crypto.Signer // by selector
	file    os.FileInfo              // keys.json when loaded
}

// NewDKIMKeys opens (creating it if needed) the DKIM key folder dir.
func NewDKIMKeys(dir string) (*DKIMKeys, error) {
	if dir == "" {
		return nil, errors.New("open DKIM keys: no folder given")
	}
	if err := mkdirSynced(dir); err != nil {
		return nil, fmt.Errorf("open DKIM keys: %w", err)
	}
	return &DKIMKeys{dir: dir, now: time.Now, domains: map[string]*dkimDomain{}}, nil
}

// mkdirSynced creates dir (0700) if it does not exist, durably.
func mkdirSynced(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return syncDir(filepath.Dir(dir))
}

// writeFileAtomic replaces path with data (mode 0600), durably.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	ok = true
	return syncDir(dir)
}

func dkimDomainName(domain string) (string, error) {
	d, err := core.NormalizeDomain(domain)
	if err != nil {
		return "", fmt.Errorf("DKIM keys: %w", err)
	}
	return d, nil
}

func (k *DKIMKeys) keyPath(domain, selector, alg string) string {
	return filepath.Join(k.dir, domain, selector+"."+alg+".pem")
}

func (k *DKIMKeys) statePath(domain string) string {
	return filepath.Join(k.dir, domain, "keys.json")
}

// load returns a domain's keys, from the cache unless keys.json changed;
// nil if the domain has none. k.mu is held.
func (k *DKIMKeys) load(domain string) (*dkimDomain, error) {
	fi, err := os.Stat(k.statePath(domain))
	if errors.Is(err, fs.ErrNotExist) {
		delete(k.domains, domain)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("DKIM keys of %s: %w", domain, err)
	}
	if d := k.domains[domain]; d != nil && os.SameFile(d.file, fi) && d.file.ModTime().Equal(fi.ModTime()) && d.file.Size() == fi.Size() {
		return d, nil
	}
	data, err := os.ReadFile(k.statePath(domain))
	if err != nil {
		return nil, fmt.Errorf("DKIM keys of %s: %w", domain, err)
	}
	d := &dkimDomain{signers: map[string]crypto.Signer{}, file: fi}
	if err := json.Unmarshal(data, &d.state); err != nil {
		return nil, fmt.Errorf("DKIM keys of %s: %s: %w", domain, k.statePath(domain), err)
	}
	for _, ks := range d.state.Keys {
		signer, err := readDKIMKey(k.keyPath(domain, ks.Selector, ks.Algorithm), ks.Algorithm)
		if err != nil {
			return nil, fmt.Errorf("DKIM keys of %s: %w", domain, err)
		}
		d.signers[ks.Selector] = signer
	}
	k.domains[domain] = d
	return d, nil
}

func readDKIMKey(path, alg string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: no PRIVATE KEY block", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch key := key.(type) {
	case *rsa.PrivateKey:
		if alg == DKIMRSA {
			return key, nil
		}
	case ed25519.PrivateKey:
		if alg == DKIMEd25519 {
			return key, nil
		}
	}
	return nil, fmt.Errorf("%s: a %T, not an %s key", path, key, alg)
}

func generateDKIMKey(alg string) (crypto.Signer, []byte, error) {
	var key crypto.Signer
	var err error
	switch alg {
	case DKIMRSA:
		key, err = rsa.GenerateKey(rand.Reader, DKIMRSABits)
	case DKIMEd25519:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		err = fmt.Errorf("unknown DKIM algorithm %q", alg)
	}
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// live reports whether a key is active, or retired recently enough to stay
// published.
func (ks *dkimKeyState) live(now time.Time) bool {
	return ks.RetiredAt == nil || now.Before(ks.RetiredAt.Add(DKIMRetention))
}

// update changes a domain's keys: retire (when rotating) marks the active
// keys retired, then every algorithm without an active key gets a new one,
// and keys retired for longer than DKIMRetention are deleted. It returns the
// active selectors. k.mu is held.
func (k *DKIMKeys) update(domain string, retire bool) ([]string, error) {
	cur, err := k.load(domain)
	if err != nil {
		return nil, err
	}
	now := k.now().UTC().Truncate(time.Second)
	var st dkimState
	if cur != nil {
		st.Keys = slices.Clone(cur.state.Keys)
	}
	changed := false
	var drop []dkimKeyState
	st.Keys = slices.DeleteFunc(st.Keys, func(ks dkimKeyState) bool {
		if ks.live(now) {
			return false
		}
		drop = append(drop, ks)
		changed = true
		return true
	})
	if retire {
		for i := range st.Keys {
			if st.Keys[i].RetiredAt == nil {
				st.Keys[i].RetiredAt = &now
				changed = true
			}
		}
	}
	for _, alg := range dkimAlgorithms {
		if slices.ContainsFunc(st.Keys, func(ks dkimKeyState) bool { return ks.Algorithm == alg && ks.RetiredAt == nil }) {
			continue
		}
		if err := mkdirSynced(filepath.Join(k.dir, domain)); err != nil {
			return nil, fmt.Errorf("DKIM keys of %s: %w", domain, err)
		}
		sel := newDKIMSelector(st.Keys, alg, now)
		_, pemData, err := generateDKIMKey(alg)
		if err != nil {
			return nil, fmt.Errorf("DKIM keys of %s: generate %s key: %w", domain, alg, err)
		}
		if err := writeFileAtomic(k.keyPath(domain, sel, alg), pemData); err != nil {
			return nil, fmt.Errorf("DKIM keys of %s: %w", domain, err)
		}
		st.Keys = append(st.Keys, dkimKeyState{Selector: sel, Algorithm: alg, CreatedAt: now})
		changed = true
	}
	if changed {
		data, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := writeFileAtomic(k.statePath(domain), append(data, '\n')); err != nil {
			return nil, fmt.Errorf("DKIM keys of %s: %w", domain, err)
		}
		// The old keys are unreachable now; a failure to delete one only
		// leaves a stray file.
		for _, ks := range drop {
			os.Remove(k.keyPath(domain, ks.Selector, ks.Algorithm))
		}
		if cur, err = k.load(domain); err != nil {
			return nil, err
		}
	}
	return cur.activeSelectors(), nil
}

// newDKIMSelector names a new key of alg made at now, unlike any in keys.
func newDKIMSelector(keys []dkimKeyState, alg string, now time.Time) string {
	base := "yb" + now.Format("200601") + map[string]string{DKIMRSA: "r", DKIMEd25519: "e"}[alg]
	sel := base
	for n := 2; slices.ContainsFunc(keys, func(ks dkimKeyState) bool { return ks.Selector == sel }); n++ {
		sel = fmt.Sprintf("%s-%d", base, n)
	}
	return sel
}

// activeSelectors returns the selectors of the active keys in signing order.
func (d *dkimDomain) activeSelectors() []string {
	var out []string
	for _, alg := range dkimAlgorithms {
		for _, ks := range d.state.Keys {
			if ks.Algorithm == alg && ks.RetiredAt == nil {
				out = append(out, ks.Selector)
			}
		}
	}
	return out
}

// Ensure makes sure domain has its active keys, generating an RSA and an
// Ed25519 key the first time (and deleting keys retired for longer than
// DKIMRetention), and returns the active selectors: RSA's, then Ed25519's.
func (k *DKIMKeys) Ensure(domain string) ([]string, error) {
	d, err := dkimDomainName(domain)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.update(d, false)
}

// Rotate gives domain new active keys; the previous ones are retired but
// stay published (Records) for DKIMRetention. It returns the new selectors.
func (k *DKIMKeys) Rotate(domain string) ([]string, error) {
	d, err := dkimDomainName(domain)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.update(d, true)
}

// Signers returns domain's active keys and their selectors, in signing order
// (RSA, then Ed25519). The error wraps core.ErrNotFound if the domain has no
// keys (see Ensure).
func (k *DKIMKeys) Signers(domain string) ([]crypto.Signer, []string, error) {
	d, err := dkimDomainName(domain)
	if err != nil {
		return nil, nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	dd, err := k.load(d)
	if err != nil {
		return nil, nil, err
	}
	if dd == nil {
		return nil, nil, fmt.Errorf("DKIM keys of %s: %w", d, core.ErrNotFound)
	}
	sels := dd.activeSelectors()
	signers := make([]crypto.Signer, len(sels))
	for i, s := range sels {
		signers[i] = dd.signers[s]
	}
	return signers, sels, nil
}

// Records returns the DNS TXT records to publish for domain, by selector
// (the record's name is <selector>._domainkey.<domain>): its active keys and
// those retired less than DKIMRetention ago. The values are
// "v=DKIM1; k=rsa; p=..." (the SubjectPublicKeyInfo, longer than 255
// octets: publish it as several strings of one TXT record) and
// "v=DKIM1; k=ed25519; p=..." (RFC 8463). The error wraps core.ErrNotFound
// if the domain has no keys.
func (k *DKIMKeys) Records(domain string) (map[string]string, error) {
	d, err := dkimDomainName(domain)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	dd, err := k.load(d)
	if err != nil {
		return nil, err
	}
	if dd == nil {
		return nil, fmt.Errorf("DKIM keys of %s: %w", d, core.ErrNotFound)
	}
	now := k.now()
	out := map[string]string{}
	for _, ks := range dd.state.Keys {
		if !ks.live(now) {
			continue
		}
		rec, err := dkimRecord(dd.signers[ks.Selector].Public())
		if err != nil {
			return nil, fmt.Errorf("DKIM keys of %s: %s: %w", d, ks.Selector, err)
		}
		out[ks.Selector] = rec
	}
	return out, nil
}

func dkimRecord(pub crypto.PublicKey) (string, error) {
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	}
	return "", fmt.Errorf("unsupported key %T", pub)
}

// Remove deletes all of domain's keys (when the domain is deleted).
// Removing a domain without keys is not an error.
func (k *DKIMKeys) Remove(domain string) error {
	d, err := dkimDomainName(domain)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.domains, d)
	dir := filepath.Join(k.dir, d)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	// keys.json first: a crash part-way leaves a domain without keys, not
	// one with missing key files.
	if err := os.Remove(k.statePath(d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove DKIM keys of %s: %w", d, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("remove DKIM keys of %s: %w", d, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove DKIM keys of %s: %w", d, err)
	}
	return syncDir(k.dir)
}

// Check loads the keys of every domain in the folder and returns an error
// naming each domain whose keys cannot be read (a key file written by
// another user, a damaged keys.json): mail of such a domain cannot be
// signed, and must not go out unsigned.
func (k *DKIMKeys) Check() error {
	entries, err := os.ReadDir(k.dir)
	if err != nil {
		return fmt.Errorf("DKIM keys: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	var errs []error
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		d, err := dkimDomainName(e.Name())
		if err != nil || d != e.Name() {
			continue
		}
		if _, err := k.load(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
