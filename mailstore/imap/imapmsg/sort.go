package imapmsg

import (
	"cmp"
	"errors"
	"fmt"
	"github.com/yubinmail/yubin/core/collate"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/core/mimetext"

	"github.com/yubinmail/yubin/core/mimeparse"
)

// SortField is one SORT key of RFC 5256 §3 or RFC 5957 §3.
type SortField uint8

// The SORT keys. Their order here means nothing.
const (
	SortArrival     SortField = iota + 1 // INTERNALDATE
	SortCc                               // addr-mailbox of the first Cc address
	SortDate                             // sent date (Date header, else INTERNALDATE), compared in UTC
	SortFrom                             // addr-mailbox of the first From address
	SortSize                             // RFC822.SIZE
	SortSubject                          // base subject (RFC 5256 §2.1)
	SortTo                               // addr-mailbox of the first To address
	SortDisplayFrom                      // display name of the first From address, else its address (RFC 5957)
	SortDisplayTo                        // display name of the first To address, else its address (RFC 5957)
)

// sortFieldNames maps SORT key atoms to fields.
var sortFieldNames = map[string]SortField{
	"ARRIVAL": SortArrival, "CC": SortCc, "DATE": SortDate, "FROM": SortFrom,
	"SIZE": SortSize, "SUBJECT": SortSubject, "TO": SortTo,
	"DISPLAYFROM": SortDisplayFrom, "DISPLAYTO": SortDisplayTo,
}

// String returns the key's IMAP atom, such as "DISPLAYFROM".
func (f SortField) String() string {
	for name, v := range sortFieldNames {
		if v == f {
			return name
		}
	}
	return fmt.Sprintf("SortField(%d)", uint8(f))
}

// SortCriterion is one sort-criterion of a SORT command (RFC 5256 §3):
// a key, optionally preceded by REVERSE.
type SortCriterion struct {
	Field   SortField
	Reverse bool
}

// ErrBadSortCriteria reports a SORT criteria list that RFC 5256 §5 does
// not allow; the server answers BAD.
var ErrBadSortCriteria = errors.New("invalid sort criteria")

// ParseSortCriteria turns the atoms of a SORT criteria list (RFC 5256 §5:
// "(" sort-criterion *(SP sort-criterion) ")", without the parentheses)
// into criteria, ignoring case. REVERSE must be followed by a key and may
// not repeat; an empty list or an unknown key is an error wrapping
// ErrBadSortCriteria. DISPLAYFROM and DISPLAYTO (RFC 5957) are accepted.
func ParseSortCriteria(atoms []string) ([]SortCriterion, error) {
	if len(atoms) == 0 {
		return nil, fmt.Errorf("%w: no sort key", ErrBadSortCriteria)
	}
	var out []SortCriterion
	reverse := false
	for _, a := range atoms {
		u := strings.ToUpper(a)
		if u == "REVERSE" {
			if reverse {
				return nil, fmt.Errorf("%w: REVERSE REVERSE", ErrBadSortCriteria)
			}
			reverse = true
			continue
		}
		f, ok := sortFieldNames[u]
		if !ok {
			return nil, fmt.Errorf("%w: unknown sort key %q", ErrBadSortCriteria, cleanText(a))
		}
		out = append(out, SortCriterion{Field: f, Reverse: reverse})
		reverse = false
	}
	if reverse {
		return nil, fmt.Errorf("%w: REVERSE without a sort key", ErrBadSortCriteria)
	}
	return out, nil
}

// SortNeedsHeader reports whether any criterion needs the message header
// (everything but ARRIVAL and SIZE). Without it the engine can sort on its
// metadata alone and leave SortRecord.Key empty.
func SortNeedsHeader(criteria []SortCriterion) bool {
	for _, c := range criteria {
		if c.Field != SortArrival && c.Field != SortSize {
			return true
		}
	}
	return false
}

// SortKey holds the header-derived SORT keys of one message, already in
// the form they are compared in: strings are i;unicode-casemap canonical
// forms (RFC 5051, see UnicodeCasemap) and compare with strings.Compare.
// A missing field or address gives the empty string, which sorts first.
type SortKey struct {
	Subject     string    // base subject (RFC 5256 §2.1)
	SentDate    time.Time // Date header in UTC; zero when missing or unparseable
	From        string    // addr-mailbox of the first From address
	To          string    // addr-mailbox of the first To address
	Cc          string    // addr-mailbox of the first Cc address
	DisplayFrom string    // RFC 5957 display name of the first From address, else local@domain
	DisplayTo   string    // RFC 5957 display name of the first To address, else local@domain
}

// SortKeyOf extracts the SORT keys from a message's header (RFC 5256 §3,
// RFC 5957 §3). raw may be the whole message or only its header block
// (see ReadHeader); only the top-level header is read. Only the keys that
// criteria name are computed; nil criteria compute all of them.
func SortKeyOf(raw []byte, criteria []SortCriterion) SortKey {
	h := mimeparse.ParseHeader(raw)
	return sortKeyOf(&h, criteria)
}

// SortKey returns the message's SORT keys; see SortKeyOf.
func (m *Message) SortKey(criteria []SortCriterion) SortKey {
	return sortKeyOf(m.root.Header(), criteria)
}

// sortKeyOf computes the keys criteria need from a header block.
func sortKeyOf(h *mimeparse.Header, criteria []SortCriterion) SortKey {
	need := func(f SortField) bool {
		if criteria == nil {
			return true
		}
		for _, c := range criteria {
			if c.Field == f {
				return true
			}
		}
		return false
	}
	var k SortKey
	if need(SortSubject) {
		base, _ := BaseSubject(h.Get("Subject"))
		k.Subject = collate.UnicodeCasemap(base)
	}
	if need(SortDate) {
		if t, ok := parseDate(h.Get("Date")); ok {
			k.SentDate = t.UTC()
		}
	}
	if need(SortFrom) || need(SortDisplayFrom) {
		a := firstAddress(h, "From")
		k.From, k.DisplayFrom = collate.UnicodeCasemap(a.mailbox()), collate.UnicodeCasemap(a.display())
	}
	if need(SortTo) || need(SortDisplayTo) {
		a := firstAddress(h, "To")
		k.To, k.DisplayTo = collate.UnicodeCasemap(a.mailbox()), collate.UnicodeCasemap(a.display())
	}
	if need(SortCc) {
		k.Cc = collate.UnicodeCasemap(firstAddress(h, "Cc").mailbox())
	}
	return k
}

// firstAddress returns the first mailbox (not a group marker) of the first
// field with the given name, or the zero Address.
func firstAddress(h *mimeparse.Header, name string) Address {
	v := h.Get(name)
	if v == "" {
		return Address{}
	}
	for _, a := range parseAddressList(v) {
		if !a.isGroupMarker() {
			return a
		}
	}
	return Address{}
}

// mailbox returns the addr-mailbox RFC 5256 sorts FROM, TO and CC on, or
// "" for a missing or unparseable address.
func (a Address) mailbox() string {
	if a.Mailbox == missingMailbox || a.Mailbox == invalidMailbox {
		return ""
	}
	return mimetext.DecodeHeader(a.Mailbox)
}

// display returns the RFC 5957 §3 display key: the decoded display name,
// or local@domain when there is none.
func (a Address) display() string {
	if name := strings.TrimSpace(mimetext.DecodeHeader(a.Name)); name != "" {
		return name
	}
	box := a.mailbox()
	if box == "" || a.Host == "" || a.Host == missingHost || a.Host == invalidHost {
		return box
	}
	return box + "@" + a.Host
}

// SortRecord is one message to be sorted: what the mailstore knows about
// it and, when SortNeedsHeader, the keys from its header.
type SortRecord struct {
	SeqNum       uint32
	UID          imap.UID
	InternalDate time.Time // ARRIVAL, and DATE when Key.SentDate is zero
	Size         int64     // RFC822.SIZE
	Key          SortKey
}

// sentDate is the message's sent date for SORT DATE and THREAD (RFC 5256
// §2.2): the Date header, else the internal date, in UTC.
func (r *SortRecord) sentDate() time.Time {
	if !r.Key.SentDate.IsZero() {
		return r.Key.SentDate
	}
	return r.InternalDate.UTC()
}

// Sort orders records by criteria as RFC 5256 §3 and RFC 5957 require:
// each criterion in turn, REVERSE inverting only its own key, and messages
// that all criteria find equal in ascending sequence-number order (UID
// order, which is the same). records is sorted in place.
func Sort(records []SortRecord, criteria []SortCriterion) {
	// Sort an index, not the records: records are large, and comparing
	// them by value would copy two per comparison.
	idx := make([]int32, len(records))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(i, j int32) int {
		a, b := &records[i], &records[j]
		for _, c := range criteria {
			d := compareSortField(a, b, c.Field)
			if c.Reverse {
				d = -d
			}
			if d != 0 {
				return d
			}
		}
		if d := cmp.Compare(a.SeqNum, b.SeqNum); d != 0 {
			return d
		}
		return cmp.Compare(a.UID, b.UID)
	})
	sorted := make([]SortRecord, len(records))
	for i, j := range idx {
		sorted[i] = records[j]
	}
	copy(records, sorted)
}

// compareSortField compares one key of two records.
func compareSortField(a, b *SortRecord, f SortField) int {
	switch f {
	case SortArrival:
		return a.InternalDate.Compare(b.InternalDate)
	case SortDate:
		return a.sentDate().Compare(b.sentDate())
	case SortSize:
		return cmp.Compare(a.Size, b.Size)
	}
	return strings.Compare(a.Key.text(f), b.Key.text(f))
}

// text returns the string key for a field that has one.
func (k *SortKey) text(f SortField) string {
	switch f {
	case SortSubject:
		return k.Subject
	case SortFrom:
		return k.From
	case SortTo:
		return k.To
	case SortCc:
		return k.Cc
	case SortDisplayFrom:
		return k.DisplayFrom
	case SortDisplayTo:
		return k.DisplayTo
	}
	return ""
}
