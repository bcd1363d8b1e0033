// Package arc adds Authenticated Received Chain sets (ARC, RFC 8617) to
// messages a server forwards, and checks the chain a message arrives
// with. An ARC set is three header fields of one instance i:
// ARC-Authentication-Results (what this hop found when the message came
// in), ARC-Message-Signature (a DKIM-like signature of the message as it
// leaves) and ARC-Seal (a signature over all the ARC sets so far, with the
// state of the chain before this hop, cv=none, pass or fail).
//
// go-msgauth's dkim package keeps its canonicalisation and key parsing
// unexported and signs only DKIM-Signature fields, so this package has its
// own relaxed canonicalisation (RFC 6376 section 3.4.2 and 3.4.4), which
// is all ARC uses.
package arc

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxInstances is the highest instance number of a valid chain (RFC 8617
// section 4.2.1).
const MaxInstances = 50

// Field names.
const (
	fieldAAR  = "ARC-Authentication-Results"
	fieldAMS  = "ARC-Message-Signature"
	fieldSeal = "ARC-Seal"
)

// signedFields are the fields the ARC-Message-Signature covers, when the
// message has them: those DKIM signers commonly sign, and the
// DKIM-Signature fields, so that a receiver sees they were not changed.
var signedFields = []string{
	"From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To", "In-Reply-To", "References",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding", "List-Id", "List-Unsubscribe",
	"DKIM-Signature", "Authentication-Results",
}

// Result is the state of the ARC chain of a message (RFC 8617 section
// 4.4): none (no ARC sets), pass or fail.
type Result string

// The chain validation states.
const (
	None Result = "none"
	Pass Result = "pass"
	Fail Result = "fail"
)

// LookupTXT returns the TXT records of a name (net.Resolver.LookupTXT).
type LookupTXT func(ctx context.Context, name string) ([]string, error)

// SealOptions says who seals a message and what it found.
type SealOptions struct {
	// Domain and Selector name the key (d= and s=): its public half is
	// the TXT record at Selector._domainkey.Domain, as for DKIM.
	Domain   string
	Selector string
	// Signer is the private key: RSA (rsa-sha256) or Ed25519
	// (ed25519-sha256, RFC 8463).
	Signer crypto.Signer
	// AuthResults is the value of this hop's Authentication-Results field,
	// "authserv-id; method=result ...", for the
	// ARC-Authentication-Results field; the chain's state is added as
	// arc=.
	AuthResults string
	// Chain is the state of the chain the message came with (Verify).
	Chain Result
	// Now is the signing time; zero means time.Now().
	Now time.Time
}

// Seal returns the ARC set to put on top of msg (a whole message, header
// and body, CRLF line ends): its three fields, ARC-Seal first, each ending
// in CRLF. The instance is one more than the highest in msg; a message
// with MaxInstances sets, or whose chain failed at an earlier hop, gets
// none (ErrChainEnded).
func Seal(msg []byte, o SealOptions) (string, error) {
	header, body := splitMessage(msg)
	fields := parseFields(header)
	sets, err := collectSets(fields)
	if err != nil && o.Chain != Fail {
		o.Chain = Fail
	}
	n := len(sets) + 1
	if err != nil {
		n = highestInstance(fields) + 1
	}
	if n > MaxInstances {
		return "", ErrChainEnded
	}
	for _, s := range sets {
		if tags, err := parseTags(s.seal.value()); err == nil && tags["cv"] == string(Fail) {
			return "", ErrChainEnded
		}
	}
	if n == 1 {
		o.Chain = None
	} else if o.Chain == None || o.Chain == "" {
		o.Chain = Fail
	}
	alg, hashAlg, err := algorithm(o.Signer)
	if err != nil {
		return "", err
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	ts := strconv.FormatInt(now.Unix(), 10)

	// ARC-Authentication-Results.
	ar := strings.TrimSpace(o.AuthResults)
	if ar == "" {
		ar = "unknown"
	}
	ar = strings.TrimSuffix(ar, "; none")
	aar := fieldAAR + ": i=" + strconv.Itoa(n) + "; " + ar + ";\r\n\tarc=" + string(o.Chain) + "\r\n"

	// ARC-Message-Signature: as DKIM, over the listed fields and the body.
	bh := sha256.Sum256(relaxedBody(body))
	var names []string
	for _, name := range signedFields {
		for _, f := range fields {
			if strings.EqualFold(f.name, name) {
				names = append(names, name)
			}
		}
	}
	ams := fieldAMS + ": i=" + strconv.Itoa(n) + "; a=" + alg + "; c=relaxed/relaxed;\r\n\td=" + o.Domain +
		"; s=" + o.Selector + "; t=" + ts + ";\r\n\th=" + foldList(names) + ";\r\n\tbh=" +
		base64.StdEncoding.EncodeToString(bh[:]) + ";\r\n\tb="
	var hb bytes.Buffer
	for _, f := range selectFields(fields, names) {
		hb.WriteString(relaxedHeader(f.raw))
	}
	hb.WriteString(strings.TrimSuffix(relaxedHeader(ams), "\r\n"))
	sig, err := sign(o.Signer, hashAlg, hb.Bytes())
	if err != nil {
		return "", fmt.Errorf("arc: sign the message: %w", err)
	}
	ams += foldSig(sig) + "\r\n"

	// ARC-Seal: over every set so far, oldest first, and this one's.
	seal := fieldSeal + ": i=" + strconv.Itoa(n) + "; a=" + alg + "; t=" + ts + "; cv=" + string(o.Chain) +
		";\r\n\td=" + o.Domain + "; s=" + o.Selector + ";\r\n\tb="
	var sb bytes.Buffer
	for _, s := range sets {
		sb.WriteString(relaxedHeader(s.aar.raw))
		sb.WriteString(relaxedHeader(s.ams.raw))
		sb.WriteString(relaxedHeader(s.seal.raw))
	}
	sb.WriteString(relaxedHeader(aar))
	sb.WriteString(relaxedHeader(ams))
	sb.WriteString(strings.TrimSuffix(relaxedHeader(seal), "\r\n"))
	sig, err = sign(o.Signer, hashAlg, sb.Bytes())
	if err != nil {
		return "", fmt.Errorf("arc: seal: %w", err)
	}
	seal += foldSig(sig) + "\r\n"
	return seal + ams + aar, nil
}

// ErrChainEnded says a message gets no further ARC set: its chain failed
// at an earlier hop, or it has MaxInstances sets.
var ErrChainEnded = errors.New("arc: the chain has ended")

// Verify checks the ARC chain of msg (RFC 8617 section 5.2): None without
// ARC sets; Pass when the sets are complete and numbered 1..n, the latest
// ARC-Message-Signature verifies, every ARC-Seal verifies and says the
// chain was intact before it; Fail otherwise, with the reason. A failure
// to look up a key is returned as an error with Fail.
func Verify(ctx context.Context, msg []byte, lookup LookupTXT) (Result, error) {
	header, body := splitMessage(msg)
	fields := parseFields(header)
	sets, err := collectSets(fields)
	if err != nil {
		return Fail, err
	}
	if len(sets) == 0 {
		return None, nil
	}
	for i, s := range sets {
		tags, err := parseTags(s.seal.value())
		if err != nil {
			return Fail, fmt.Errorf("ARC-Seal i=%d: %w", i+1, err)
		}
		want := string(Pass)
		if i == 0 {
			want = string(None)
		}
		if tags["cv"] != want {
			return Fail, fmt.Errorf("ARC-Seal i=%d: cv=%s", i+1, tags["cv"])
		}
	}
	// The latest message signature.
	last := sets[len(sets)-1]
	tags, err := parseTags(last.ams.value())
	if err != nil {
		return Fail, fmt.Errorf("ARC-Message-Signature: %w", err)
	}
	if tags["c"] != "relaxed/relaxed" && tags["c"] != "relaxed" {
		// Simple canonicalisation is not implemented here.
		return Fail, fmt.Errorf("ARC-Message-Signature: canonicalization %q not supported", tags["c"])
	}
	bh := sha256.Sum256(relaxedBody(body))
	if base64.StdEncoding.EncodeToString(bh[:]) != strings.Join(strings.Fields(tags["bh"]), "") {
		return Fail, errors.New("ARC-Message-Signature: body hash does not match")
	}
	var names []string
	for _, n := range strings.Split(tags["h"], ":") {
		if n = strings.TrimSpace(n); n != "" {
			if strings.EqualFold(n, fieldSeal) {
				return Fail, errors.New("ARC-Message-Signature signs ARC-Seal")
			}
			names = append(names, n)
		}
	}
	var hb bytes.Buffer
	for _, f := range selectFields(fields, names) {
		hb.WriteString(relaxedHeader(f.raw))
	}
	hb.WriteString(strings.TrimSuffix(relaxedHeader(stripSig(last.ams.raw)), "\r\n"))
	if err := verifySig(ctx, lookup, tags, hb.Bytes()); err != nil {
		return Fail, fmt.Errorf("ARC-Message-Signature i=%d: %w", len(sets), err)
	}
	// Every seal, over the sets up to its own.
	for i, s := range sets {
		tags, _ := parseTags(s.seal.value())
		var sb bytes.Buffer
		for _, p := range sets[:i] {
			sb.WriteString(relaxedHeader(p.aar.raw))
			sb.WriteString(relaxedHeader(p.ams.raw))
			sb.WriteString(relaxedHeader(p.seal.raw))
		}
		sb.WriteString(relaxedHeader(s.aar.raw))
		sb.WriteString(relaxedHeader(s.ams.raw))
		sb.WriteString(strings.TrimSuffix(relaxedHeader(stripSig(s.seal.raw)), "\r\n"))
		if err := verifySig(ctx, lookup, tags, sb.Bytes()); err != nil {
			return Fail, fmt.Errorf("ARC-Seal i=%d: %w", i+1, err)
		}
	}
	return Pass, nil
}

// arcSet is the three fields of one instance.
type arcSet struct{ aar, ams, seal *field }

// collectSets returns the ARC sets of a header, by instance 1..n; an
// error if an instance is missing, doubled or incomplete.
func collectSets(fields []field) ([]arcSet, error) {
	byInstance := map[int]*arcSet{}
	highest := 0
	for i := range fields {
		f := &fields[i]
		var slot func(*arcSet) **field
		switch {
		case strings.EqualFold(f.name, fieldAAR):
			slot = func(s *arcSet) **field { return &s.aar }
		case strings.EqualFold(f.name, fieldAMS):
			slot = func(s *arcSet) **field { return &s.ams }
		case strings.EqualFold(f.name, fieldSeal):
			slot = func(s *arcSet) **field { return &s.seal }
		default:
			continue
		}
		n, err := instance(f.value())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		s := byInstance[n]
		if s == nil {
			s = &arcSet{}
			byInstance[n] = s
		}
		p := slot(s)
		if *p != nil {
			return nil, fmt.Errorf("two %s fields with i=%d", f.name, n)
		}
		*p = f
		highest = max(highest, n)
	}
	if highest > MaxInstances {
		return nil, fmt.Errorf("instance %d beyond %d", highest, MaxInstances)
	}
	sets := make([]arcSet, highest)
	for n := 1; n <= highest; n++ {
		s := byInstance[n]
		if s == nil || s.aar == nil || s.ams == nil || s.seal == nil {
			return nil, fmt.Errorf("ARC set %d missing or incomplete", n)
		}
		sets[n-1] = *s
	}
	return sets, nil
}

// highestInstance is the highest i= of any ARC field, readable or not.
func highestInstance(fields []field) int {
	h := 0
	for _, f := range fields {
		if strings.EqualFold(f.name, fieldAAR) || strings.EqualFold(f.name, fieldAMS) || strings.EqualFold(f.name, fieldSeal) {
			if n, err := instance(f.value()); err == nil {
				h = max(h, n)
			}
		}
	}
	return h
}

// instance reads the i= tag at the start of an ARC field's value.
func instance(v string) (int, error) {
	s := strings.TrimSpace(v)
	if !strings.HasPrefix(s, "i") {
		return 0, errors.New("no i= tag first")
	}
	s = strings.TrimSpace(s[1:])
	if !strings.HasPrefix(s, "=") {
		return 0, errors.New("no i= tag first")
	}
	s = strings.TrimSpace(s[1:])
	if j := strings.IndexByte(s, ';'); j >= 0 {
		s = s[:j]
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("bad instance %q", s)
	}
	return n, nil
}

// algorithm returns the a= of a key and the hash it signs.
func algorithm(k crypto.Signer) (string, crypto.Hash, error) {
	switch k.Public().(type) {
	case *rsa.PublicKey:
		return "rsa-sha256", crypto.SHA256, nil
	case ed25519.PublicKey:
		return "ed25519-sha256", crypto.Hash(0), nil
	}
	return "", 0, fmt.Errorf("arc: unsupported key type %T", k.Public())
}

// sign signs the SHA-256 hash of data.
func sign(k crypto.Signer, h crypto.Hash, data []byte) ([]byte, error) {
	sum := sha256.Sum256(data)
	return k.Sign(rand.Reader, sum[:], h)
}

// verifySig checks the b= of tags over data with the key named by d= and s=.
func verifySig(ctx context.Context, lookup LookupTXT, tags map[string]string, data []byte) error {
	d, s := tags["d"], tags["s"]
	if d == "" || s == "" {
		return errors.New("no d= or s=")
	}
	sig, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(tags["b"]), ""))
	if err != nil {
		return fmt.Errorf("b=: %w", err)
	}
	if lookup == nil {
		return errors.New("no DNS resolver to look up the key")
	}
	txts, err := lookup(ctx, s+"._domainkey."+d)
	if err != nil {
		return fmt.Errorf("look up the key of %s: %w", d, err)
	}
	key, err := parseKey(strings.Join(txts, ""))
	if err != nil {
		return fmt.Errorf("key %s._domainkey.%s: %w", s, d, err)
	}
	sum := sha256.Sum256(data)
	switch k := key.(type) {
	case *rsa.PublicKey:
		if tags["a"] != "rsa-sha256" {
			return fmt.Errorf("algorithm %q with an RSA key", tags["a"])
		}
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig)
	case ed25519.PublicKey:
		if tags["a"] != "ed25519-sha256" || !ed25519.Verify(k, sum[:], sig) {
			return errors.New("signature does not verify")
		}
		return nil
	}
	return errors.New("unsupported key")
}
