// Package dkimkeys keeps the DKIM signing keys of the local domains in the
// database (table dkim_keys), the private keys sealed with the server key
// (package blobcrypt) when there is one: an RSA key for every verifier and
// an Ed25519 key (RFC 8463) for those that know it, rotated with the old
// keys published a while longer. Submission, forwarding and the outbound
// worker sign with them; the service layer makes, rotates and lists them.
// It reaches the database through Database, which the mailstore
// implements, and takes over the key files older versions kept in the data
// folder (Import).
package dkimkeys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/db"
	"github.com/yubinmail/yubin/mailstore/blobcrypt"
)

// Key algorithms (the k= tag of the DNS record).
const (
	RSA     = "rsa"
	Ed25519 = "ed25519"
)

// RSABits is the size of generated RSA keys.
const RSABits = 2048

// Retention is how long a key replaced by Rotate stays published (in
// Records) so that mail signed with it in flight still verifies.
const Retention = 7 * 24 * time.Hour

// algorithms are the keys every domain gets, in signing order.
var algorithms = []string{RSA, Ed25519}

// Database is the database the keys are kept in: the mailstore's today
// (its reader pool and its group-commit writer).
type Database interface {
	db.Tables
}

// keyRow is one key of a domain.
type keyRow struct {
	ID        int64      `gorm:"primaryKey"`
	Domain    string     `gorm:"size:253;not null;uniqueIndex:idx_dkim_key,priority:1"`
	Selector  string     `gorm:"size:63;not null;uniqueIndex:idx_dkim_key,priority:2"`
	Algorithm string     `gorm:"size:20;not null"`
	CreatedAt time.Time  `gorm:"not null"`
	RetiredAt *time.Time // nil: active
	// Private is the PKCS #8 DER of the private key, sealed with the
	// server key when Sealed.
	Private []byte `gorm:"not null"`
	Sealed  bool   `gorm:"not null;default:false"`
}

func (keyRow) TableName() string { return "dkim_keys" }

// Models are the tables of the keys.
func Models() []any { return []any{&keyRow{}} }

// live reports whether a key is active, or retired recently enough to stay
// published.
func (r *keyRow) live(now time.Time) bool {
	return r.RetiredAt == nil || now.Before(r.RetiredAt.Add(Retention))
}

// Keys are the DKIM keys of the local domains. Parsed keys are cached;
// what another process (the CLI, another node) changes is seen at the next
// call, which reads the domain's rows. It is safe for concurrent use.
type Keys struct {
	db     Database
	sealer *blobcrypt.Sealer // nil or unable to seal: keys stored plain
	now    func() time.Time

	mu      sync.Mutex
	signers map[string]crypto.Signer // by domain + " " + selector
}

// Open returns the keys kept in db, creating or updating their table. New
// keys are sealed with sealer (the server key) if it can seal; sealed keys
// need it to be read.
func Open(ctx context.Context, db Database, sealer *blobcrypt.Sealer) (*Keys, error) {
	if err := db.MigrateTables(ctx, "dkim", Models()...); err != nil {
		return nil, fmt.Errorf("open DKIM keys: %w", err)
	}
	return &Keys{db: db, sealer: sealer, now: time.Now, signers: map[string]crypto.Signer{}}, nil
}

func domainName(domain string) (string, error) {
	d, err := core.NormalizeDomain(domain)
	if err != nil {
		return "", fmt.Errorf("DKIM keys: %w", err)
	}
	return d, nil
}

// rows returns a domain's keys, oldest first.
func rows(db *gorm.DB, domain string) ([]keyRow, error) {
	var rs []keyRow
	if err := db.Where("domain = ?", domain).Order("id").Find(&rs).Error; err != nil {
		return nil, fmt.Errorf("DKIM keys of %s: %w", domain, err)
	}
	return rs, nil
}

// label binds a sealed key to its domain and selector, so that a key
// cannot be passed off as another's.
func label(domain, selector string) string { return "dkim " + domain + " " + selector }

// seal returns what to store of a new key's DER.
func (k *Keys) seal(domain, selector string, der []byte) (stored []byte, sealed bool, err error) {
	if !k.sealer.CanSeal() {
		return der, false, nil
	}
	var b bytes.Buffer
	w, err := k.sealer.Seal(&b, label(domain, selector))
	if err != nil {
		return nil, false, err
	}
	if _, err := w.Write(der); err != nil {
		return nil, false, err
	}
	if err := w.Close(); err != nil {
		return nil, false, err
	}
	return b.Bytes(), true, nil
}

// signer returns the parsed private key of r, from the cache if it is
// there.
func (k *Keys) signer(r *keyRow) (crypto.Signer, error) {
	id := r.Domain + " " + r.Selector
	k.mu.Lock()
	s, ok := k.signers[id]
	k.mu.Unlock()
	if ok {
		return s, nil
	}
	der := r.Private
	if r.Sealed {
		body, err := k.sealer.Open(bytes.NewReader(r.Private), int64(len(r.Private)), label(r.Domain, r.Selector))
		if err != nil {
			return nil, fmt.Errorf("DKIM key %s of %s: %w", r.Selector, r.Domain, err)
		}
		der, err = io.ReadAll(io.NewSectionReader(body, 0, body.Size()))
		body.Close()
		if err != nil {
			return nil, fmt.Errorf("DKIM key %s of %s: %w", r.Selector, r.Domain, err)
		}
	}
	s, err := parseKey(der, r.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("DKIM key %s of %s: %w", r.Selector, r.Domain, err)
	}
	k.mu.Lock()
	k.signers[id] = s
	k.mu.Unlock()
	return s, nil
}

// parseKey parses a PKCS #8 private key of algorithm alg.
func parseKey(der []byte, alg string) (crypto.Signer, error) {
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	switch key := key.(type) {
	case *rsa.PrivateKey:
		if alg == RSA {
			return key, nil
		}
	case ed25519.PrivateKey:
		if alg == Ed25519 {
			return key, nil
		}
	}
	return nil, fmt.Errorf("a %T, not an %s key", key, alg)
}

// generate makes a new key of alg and returns its PKCS #8 DER.
func generate(alg string) ([]byte, error) {
	var key crypto.Signer
	var err error
	switch alg {
	case RSA:
		key, err = rsa.GenerateKey(rand.Reader, RSABits)
	case Ed25519:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		err = fmt.Errorf("unknown DKIM algorithm %q", alg)
	}
	if err != nil {
		return nil, err
	}
	return x509.MarshalPKCS8PrivateKey(key)
}

// missing returns the algorithms without an active key in rs, once keys
// active at now are retired if retire is set.
func missing(rs []keyRow, retire bool) []string {
	var out []string
	for _, alg := range algorithms {
		if retire || !slices.ContainsFunc(rs, func(r keyRow) bool { return r.Algorithm == alg && r.RetiredAt == nil }) {
			out = append(out, alg)
		}
	}
	return out
}

// update changes a domain's keys: retire (when rotating) marks the active
// keys retired, then every algorithm without an active key gets a new one,
// and keys retired for longer than Retention are deleted. It returns the
// active selectors. New keys are made before the write transaction (RSA
// takes a while) and used if they are still needed in it.
func (k *Keys) update(ctx context.Context, domain string, retire bool) ([]string, error) {
	cur, err := rows(k.db.ReadDB(ctx), domain)
	if err != nil {
		return nil, err
	}
	made := map[string][]byte{}
	for _, alg := range missing(cur, retire) {
		if made[alg], err = generate(alg); err != nil {
			return nil, fmt.Errorf("DKIM keys of %s: generate %s key: %w", domain, alg, err)
		}
	}
	now := k.now().UTC().Truncate(time.Second)
	var active []string
	err = k.db.WriteTx(ctx, false, func(tx *gorm.DB, _ func(func())) error {
		active = nil
		// Nodes on one PostgreSQL making a new domain's keys at once: the
		// second waits here and then reads the first's keys, instead of
		// inserting its own and failing on the unique selector.
		if err := k.db.Dialect().LockTx(tx, "dkim keys "+domain); err != nil {
			return err
		}
		rs, err := rows(tx, domain)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if !r.live(now) {
				if err := tx.Delete(&keyRow{}, r.ID).Error; err != nil {
					return err
				}
			}
		}
		rs = slices.DeleteFunc(rs, func(r keyRow) bool { return !r.live(now) })
		if retire {
			if err := tx.Model(&keyRow{}).Where("domain = ? AND retired_at IS NULL", domain).Update("retired_at", now).Error; err != nil {
				return err
			}
			for i := range rs {
				if rs[i].RetiredAt == nil {
					rs[i].RetiredAt = &now
				}
			}
		}
		for _, alg := range missing(rs, false) {
			der := made[alg]
			if der == nil { // another process retired it meanwhile
				if der, err = generate(alg); err != nil {
					return fmt.Errorf("generate %s key: %w", alg, err)
				}
			}
			sel := newSelector(rs, alg, now)
			stored, sealed, err := k.seal(domain, sel, der)
			if err != nil {
				return err
			}
			r := keyRow{Domain: domain, Selector: sel, Algorithm: alg, CreatedAt: now, Private: stored, Sealed: sealed}
			if err := tx.Create(&r).Error; err != nil {
				return err
			}
			rs = append(rs, r)
		}
		active = activeSelectors(rs)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("DKIM keys of %s: %w", domain, err)
	}
	return active, nil
}

// newSelector names a new key of alg made at now, unlike any in rs:
// yb<YYYYMM>r for RSA and yb<YYYYMM>e for Ed25519 (the month the key was
// made), with -2, -3... when a domain rotates more than once in a month.
func newSelector(rs []keyRow, alg string, now time.Time) string {
	base := "yb" + now.Format("200601") + map[string]string{RSA: "r", Ed25519: "e"}[alg]
	sel := base
	for n := 2; slices.ContainsFunc(rs, func(r keyRow) bool { return r.Selector == sel }); n++ {
		sel = fmt.Sprintf("%s-%d", base, n)
	}
	return sel
}

// activeSelectors returns the selectors of the active keys in rs, in
// signing order.
func activeSelectors(rs []keyRow) []string {
	var out []string
	for _, alg := range algorithms {
		for _, r := range rs {
			if r.Algorithm == alg && r.RetiredAt == nil {
				out = append(out, r.Selector)
			}
		}
	}
	return out
}

// Ensure makes sure domain has its active keys, generating an RSA and an
// Ed25519 key the first time (and deleting keys retired for longer than
// Retention), and returns the active selectors: RSA's, then Ed25519's.
func (k *Keys) Ensure(ctx context.Context, domain string) ([]string, error) {
	d, err := domainName(domain)
	if err != nil {
		return nil, err
	}
	return k.update(ctx, d, false)
}

// Rotate gives domain new active keys; the previous ones are retired but
// stay published (Records) for Retention. It returns the new selectors.
func (k *Keys) Rotate(ctx context.Context, domain string) ([]string, error) {
	d, err := domainName(domain)
	if err != nil {
		return nil, err
	}
	return k.update(ctx, d, true)
}

// Signers returns domain's active keys and their selectors, in signing
// order (RSA, then Ed25519). The error wraps core.ErrNotFound if the domain
// has no keys (see Ensure).
func (k *Keys) Signers(ctx context.Context, domain string) ([]crypto.Signer, []string, error) {
	d, err := domainName(domain)
	if err != nil {
		return nil, nil, err
	}
	rs, err := rows(k.db.ReadDB(ctx), d)
	if err != nil {
		return nil, nil, err
	}
	sels := activeSelectors(rs)
	if len(sels) == 0 {
		return nil, nil, fmt.Errorf("DKIM keys of %s: %w", d, core.ErrNotFound)
	}
	signers := make([]crypto.Signer, len(sels))
	for i, sel := range sels {
		j := slices.IndexFunc(rs, func(r keyRow) bool { return r.Selector == sel })
		if signers[i], err = k.signer(&rs[j]); err != nil {
			return nil, nil, err
		}
	}
	return signers, sels, nil
}

// Records returns the DNS TXT records to publish for domain, by selector
// (the record's name is <selector>._domainkey.<domain>): its active keys and
// those retired less than Retention ago. The values are
// "v=DKIM1; k=rsa; p=..." (the SubjectPublicKeyInfo, longer than 255
// octets: publish it as several strings of one TXT record) and
// "v=DKIM1; k=ed25519; p=..." (RFC 8463). The error wraps core.ErrNotFound
// if the domain has no keys.
func (k *Keys) Records(ctx context.Context, domain string) (map[string]string, error) {
	d, err := domainName(domain)
	if err != nil {
		return nil, err
	}
	rs, err := rows(k.db.ReadDB(ctx), d)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("DKIM keys of %s: %w", d, core.ErrNotFound)
	}
	now := k.now()
	out := map[string]string{}
	for i := range rs {
		if !rs[i].live(now) {
			continue
		}
		s, err := k.signer(&rs[i])
		if err != nil {
			return nil, err
		}
		rec, err := record(s.Public())
		if err != nil {
			return nil, fmt.Errorf("DKIM keys of %s: %s: %w", d, rs[i].Selector, err)
		}
		out[rs[i].Selector] = rec
	}
	return out, nil
}

// record returns the DNS TXT record of a public key.
func record(pub crypto.PublicKey) (string, error) {
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
func (k *Keys) Remove(ctx context.Context, domain string) error {
	d, err := domainName(domain)
	if err != nil {
		return err
	}
	err = k.db.WriteTx(ctx, false, func(tx *gorm.DB, _ func(func())) error {
		return tx.Where("domain = ?", d).Delete(&keyRow{}).Error
	})
	if err != nil {
		return fmt.Errorf("remove DKIM keys of %s: %w", d, err)
	}
	k.mu.Lock()
	for id := range k.signers {
		if dom, _, _ := strings.Cut(id, " "); dom == d {
			delete(k.signers, id)
		}
	}
	k.mu.Unlock()
	return nil
}

// Check reads every key and returns an error naming each one that cannot
// be read (sealed with a server key this process does not have, damaged):
// mail of such a domain cannot be signed, and must not go out unsigned.
func (k *Keys) Check(ctx context.Context) error {
	var rs []keyRow
	if err := k.db.ReadDB(ctx).Order("domain, id").Find(&rs).Error; err != nil {
		return fmt.Errorf("DKIM keys: %w", err)
	}
	var errs []error
	for i := range rs {
		if _, err := k.signer(&rs[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// insertIgnore adds rows, leaving alone any whose domain and selector a
// key has already.
func insertIgnore(tx *gorm.DB, rs []keyRow) error {
	if len(rs) == 0 {
		return nil
	}
	return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&rs).Error
}
