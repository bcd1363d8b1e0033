package imapserver

import (
	"strings"

	"github.com/emersion/go-imap/v2"
)

// fetchRequest is a parsed FETCH item list.
type fetchRequest struct {
	uid, flags, internalDate, size, envelope, modSeq bool
	body, bodyStructure                              bool // BODY and BODYSTRUCTURE
	rfc822, rfc822Header, rfc822Text                 bool
	sections                                         []*imap.FetchItemBodySection
	binary                                           []*imap.FetchItemBinarySection
	binarySize                                       [][]int
	// changedSince is the CHANGEDSINCE modifier (RFC 7162), 0 if none;
	// vanished asks for VANISHED (QRESYNC, UID FETCH only).
	changedSince uint64
	vanished     bool
	preview      bool // PREVIEW (RFC 8970)
	// emailID and threadID are EMAILID and THREADID (OBJECTID, RFC 8474).
	emailID, threadID bool
	// threads holds the THREADIDs of the messages fetched, by blob key,
	// once looked up (see objectid.go).
	threads  map[string]string
	saveDate bool // SAVEDATE (RFC 8514)
	// wholeName is the response name of the one whole-message section
	// when wholeOnly; scratch is a buffer reused for the bodies read
	// whole into memory (see wholeBody).
	wholeName string
	scratch   []byte
	// bodies opens the bodies of the messages fetched, read ahead in
	// batches (nil: one at a time); whole is reused for each message.
	bodies MessageBodies
	whole  wholeBody
}

// wholeOnly reports whether the only item that needs the message's bytes
// is one that asks for all of them, unparsed: RFC822, or BODY[] or
// BODY.PEEK[] without a partial range. It sets wholeName.
func (f *fetchRequest) wholeOnly() bool {
	if f.preview || f.envelope || f.body || f.bodyStructure || f.rfc822Header || f.rfc822Text ||
		len(f.binary) > 0 || len(f.binarySize) > 0 {
		return false
	}
	switch {
	case f.rfc822 && len(f.sections) == 0:
		return true
	case !f.rfc822 && len(f.sections) == 1:
		sec := f.sections[0]
		if len(sec.Part) > 0 || sec.Specifier != imap.PartSpecifierNone || sec.Partial != nil {
			return false
		}
		if f.wholeName == "" {
			f.wholeName = sectionName(sec)
		}
		return true
	}
	return false
}

// needsBody reports whether the message's bytes are needed.
func (f *fetchRequest) needsBody() bool {
	return f.preview || f.envelope || f.body || f.bodyStructure || f.rfc822 || f.rfc822Header || f.rfc822Text ||
		len(f.sections) > 0 || len(f.binary) > 0 || len(f.binarySize) > 0
}

// setsSeen reports whether the request sets \Seen (a non-PEEK body part).
func (f *fetchRequest) setsSeen() bool {
	if f.rfc822 || f.rfc822Text {
		return true
	}
	for _, s := range f.sections {
		if !s.Peek {
			return true
		}
	}
	for _, s := range f.binary {
		if !s.Peek {
			return true
		}
	}
	return false
}

// maxFetchItems bounds the items of one FETCH.
const maxFetchItems = 100

// parseFetch reads the item list of FETCH and its modifiers.
func (r *reader) parseFetch() (*fetchRequest, error) {
	var f *fetchRequest
	var err error
	if r.peek() == '(' {
		f, err = r.fetchAttList()
	} else {
		f = &fetchRequest{}
		err = r.fetchItem(f, true)
	}
	if err != nil {
		return nil, err
	}
	if r.accept(' ') {
		if err := r.fetchModifiers(f); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// fetchAttList reads "(" fetch-att *(SP fetch-att) ")".
func (r *reader) fetchAttList() (*fetchRequest, error) {
	f := &fetchRequest{}
	if err := r.expect('(', "fetch attributes"); err != nil {
		return nil, err
	}
	for n := 0; ; n++ {
		if n >= maxFetchItems {
			return nil, badf("Too many FETCH items")
		}
		if err := r.fetchItem(f, false); err != nil {
			return nil, err
		}
		if r.accept(')') {
			return f, nil
		}
		if err := r.sp(); err != nil {
			return nil, err
		}
	}
}

// fetchModifiers reads "(" CHANGEDSINCE n [SP VANISHED] ")".
func (r *reader) fetchModifiers(f *fetchRequest) error {
	if err := r.expect('(', "FETCH modifiers"); err != nil {
		return err
	}
	for first := true; !r.accept(')'); first = false {
		if !first {
			if err := r.sp(); err != nil {
				return err
			}
		}
		name, err := r.atom("a FETCH modifier")
		if err != nil {
			return err
		}
		switch strings.ToUpper(name) {
		case "CHANGEDSINCE":
			if err := r.sp(); err != nil {
				return err
			}
			n, err := r.number64("a mod-sequence")
			if err != nil {
				return err
			}
			f.changedSince = n
			f.modSeq = true
		case "VANISHED":
			f.vanished = true
		default:
			return badf("Unknown FETCH modifier %s", name)
		}
	}
	if f.vanished && f.changedSince == 0 {
		return badf("VANISHED requires CHANGEDSINCE")
	}
	return nil
}

// fetchItem reads one FETCH item; macros only if macros.
func (r *reader) fetchItem(f *fetchRequest, macros bool) error {
	start := r.pos
	for r.pos < len(r.line) && (isAtomChar(r.line[r.pos]) && r.line[r.pos] != '[' && r.line[r.pos] != '<') {
		r.pos++
	}
	if r.pos == start {
		return r.unexpected("a FETCH item")
	}
	name := strings.ToUpper(string(r.line[start:r.pos]))
	switch name {
	case "ALL", "FAST", "FULL":
		if !macros {
			return badf("FETCH macro %s cannot be inside a list", name)
		}
		f.flags, f.internalDate, f.size = true, true, true
		if name != "FAST" {
			f.envelope = true
		}
		if name == "FULL" {
			f.body = true
		}
	case "UID":
		f.uid = true
	case "FLAGS":
		f.flags = true
	case "INTERNALDATE":
		f.internalDate = true
	case "RFC822.SIZE":
		f.size = true
	case "ENVELOPE":
		f.envelope = true
	case "BODYSTRUCTURE":
		f.bodyStructure = true
	case "MODSEQ":
		f.modSeq = true
	case "PREVIEW":
		f.preview = true
		return r.previewModifiers()
	case "EMAILID":
		f.emailID = true
	case "THREADID":
		f.threadID = true
	case "SAVEDATE":
		f.saveDate = true
	case "RFC822":
		f.rfc822 = true
	case "RFC822.HEADER":
		f.rfc822Header = true
	case "RFC822.TEXT":
		f.rfc822Text = true
	case "BODY", "BODY.PEEK":
		if r.peek() != '[' {
			if name == "BODY.PEEK" {
				return badf("BODY.PEEK needs a section")
			}
			f.body = true
			return nil
		}
		s, err := r.bodySection()
		if err != nil {
			return err
		}
		s.Peek = name == "BODY.PEEK"
		if s.Partial, err = r.partial(); err != nil {
			return err
		}
		f.sections = append(f.sections, s)
	case "BINARY", "BINARY.PEEK", "BINARY.SIZE":
		if err := r.expect('[', "a section"); err != nil {
			return err
		}
		var part []int
		if !r.accept(']') {
			var err error
			if part, err = r.sectionPart(); err != nil {
				return err
			}
			if err := r.expect(']', "the end of the section"); err != nil {
				return err
			}
		}
		if name == "BINARY.SIZE" {
			f.binarySize = append(f.binarySize, part)
			return nil
		}
		p, err := r.partial()
		if err != nil {
			return err
		}
		f.binary = append(f.binary, &imap.FetchItemBinarySection{Part: part, Partial: p, Peek: name == "BINARY.PEEK"})
	default:
		return badf("Unknown FETCH item %s", strings.ToValidUTF8(name, "?"))
	}
	return nil
}

// sectionPart reads nz-number *("." nz-number); the dot before a
// section text is left.
func (r *reader) sectionPart() ([]int, error) {
	var part []int
	for {
		n, err := r.number("a section part number")
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, badf("Section part numbers start at 1")
		}
		if len(part) >= 100 {
			return nil, badf("Section part path too deep")
		}
		part = append(part, int(n))
		if r.peek() != '.' || r.pos+1 >= len(r.line) || r.line[r.pos+1] < '0' || r.line[r.pos+1] > '9' {
			return part, nil
		}
		r.pos++
	}
}

// bodySection reads "[" section-spec "]".
func (r *reader) bodySection() (*imap.FetchItemBodySection, error) {
	r.pos++ // '['
	s := &imap.FetchItemBodySection{}
	if r.accept(']') {
		return s, nil
	}
	if c := r.peek(); c >= '0' && c <= '9' {
		part, err := r.sectionPart()
		if err != nil {
			return nil, err
		}
		s.Part = part
		if r.accept(']') {
			return s, nil
		}
		if err := r.expect('.', "a section text"); err != nil {
			return nil, err
		}
	}
	start := r.pos
	for r.pos < len(r.line) && (r.line[r.pos] >= 'A' && r.line[r.pos] <= 'Z' || r.line[r.pos] >= 'a' && r.line[r.pos] <= 'z' || r.line[r.pos] == '.') {
		r.pos++
	}
	spec := strings.ToUpper(string(r.line[start:r.pos]))
	switch spec {
	case "HEADER":
		s.Specifier = imap.PartSpecifierHeader
	case "TEXT":
		s.Specifier = imap.PartSpecifierText
	case "MIME":
		if len(s.Part) == 0 {
			return nil, badf("MIME needs a section part")
		}
		s.Specifier = imap.PartSpecifierMIME
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		s.Specifier = imap.PartSpecifierHeader
		if err := r.sp(); err != nil {
			return nil, err
		}
		fields, err := r.headerList()
		if err != nil {
			return nil, err
		}
		if spec == "HEADER.FIELDS" {
			s.HeaderFields = fields
		} else {
			s.HeaderFieldsNot = fields
		}
	default:
		return nil, badf("Unknown section %q", strings.ToValidUTF8(spec, "?"))
	}
	if err := r.expect(']', "the end of the section"); err != nil {
		return nil, err
	}
	return s, nil
}

// headerList reads "(" header-fld-name *(SP header-fld-name) ")".
func (r *reader) headerList() ([]string, error) {
	if err := r.expect('(', "a header field list"); err != nil {
		return nil, err
	}
	var fields []string
	for {
		if len(fields) >= 200 {
			return nil, badf("Too many header fields")
		}
		f, err := r.astring("a header field name")
		if err != nil {
			return nil, err
		}
		for i := 0; i < len(f); i++ {
			if f[i] <= ' ' || f[i] >= 0x7f || f[i] == ':' {
				return nil, badf("Invalid header field name %q", strings.ToValidUTF8(f, "?"))
			}
		}
		fields = append(fields, f)
		if r.accept(')') {
			return fields, nil
		}
		if err := r.sp(); err != nil {
			return nil, err
		}
	}
}

// partial reads an optional "<" number "." nz-number ">".
func (r *reader) partial() (*imap.SectionPartial, error) {
	if !r.accept('<') {
		return nil, nil
	}
	off, err := r.number("a partial offset")
	if err != nil {
		return nil, err
	}
	if err := r.expect('.', "a partial length"); err != nil {
		return nil, err
	}
	n, err := r.number("a partial length")
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, badf("A partial length must not be 0")
	}
	if err := r.expect('>', "the end of the partial range"); err != nil {
		return nil, err
	}
	return &imap.SectionPartial{Offset: int64(off), Size: int64(n)}, nil
}
