package imapmsg

import "strings"

// BaseSubject extracts the base subject of a raw Subject header value as
// RFC 5256 §2.1 defines it for SORT SUBJECT and THREAD: RFC 2047 encoded
// words are decoded to UTF-8, white space is collapsed, and "(fwd)"
// trailers, "Re:"/"Fw:"/"Fwd:" leaders (optionally with "[blob]"s before or
// inside them), leading "[blob]"s that do not make up the whole subject and
// "[fwd: ...]" wrappers are removed, repeatedly, in the RFC's order.
// replyOrForward reports whether any leader, "(fwd)" trailer or "[fwd:]"
// wrapper was removed: RFC 5256 §3 (REFERENCES step 5) treats such a
// message as a reply or forward. The result is not case-mapped; compare
// base subjects with UnicodeCasemap.
func BaseSubject(raw string) (base string, replyOrForward bool) {
	// (1) Decode encoded words, turn tabs and line breaks into spaces and
	// collapse runs of spaces.
	s := collapseSpace(decodeHeaderText(raw))
	for {
		// (2) Remove trailers: "(fwd)" and white space, repeatedly.
		s, replyOrForward = trimSubjectTrailers(s, replyOrForward)
		// (3)-(5) Remove leaders and leading blobs until none match.
		for {
			var changed bool
			if rest, ok := trimSubjectLeader(s); ok {
				s, changed, replyOrForward = rest, true, true
			}
			if rest, ok := trimLeadingSpace(s); ok {
				s, changed = rest, true
			}
			if rest, ok := trimSubjectBlob(s); ok {
				s, changed = rest, true
			}
			if !changed {
				break
			}
		}
		// (6) "[fwd:" ... "]" is removed and extraction repeats from (2).
		if len(s) >= len("[fwd:]") && hasPrefixFold(s, "[fwd:") && s[len(s)-1] == ']' {
			s = s[len("[fwd:") : len(s)-1]
			replyOrForward = true
			continue
		}
		return s, replyOrForward
	}
}

// collapseSpace turns tabs, CR and LF into spaces and runs of spaces into
// one space.
func collapseSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteByte(c)
	}
	return b.String()
}

// trimSubjectTrailers removes trailing white space and "(fwd)" (any case)
// until neither is left, setting fwd when a "(fwd)" went.
func trimSubjectTrailers(s string, fwd bool) (string, bool) {
	for {
		switch {
		case strings.HasSuffix(s, " "):
			s = s[:len(s)-1]
		case len(s) >= 5 && hasPrefixFold(s[len(s)-5:], "(fwd)"):
			s = s[:len(s)-5]
			fwd = true
		default:
			return s, fwd
		}
	}
}

// trimLeadingSpace removes one leading space (a WSP subj-leader).
func trimLeadingSpace(s string) (string, bool) {
	if strings.HasPrefix(s, " ") {
		return s[1:], true
	}
	return s, false
}

// trimSubjectLeader removes a leading "*subj-blob subj-refwd", where
// subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":".
func trimSubjectLeader(s string) (string, bool) {
	i := 0
	for {
		n := blobLen(s[i:])
		if n == 0 {
			break
		}
		i += n
	}
	rest := s[i:]
	switch {
	case hasPrefixFold(rest, "re"):
		rest = rest[2:]
	case hasPrefixFold(rest, "fwd"):
		rest = rest[3:]
	case hasPrefixFold(rest, "fw"):
		rest = rest[2:]
	default:
		return s, false
	}
	rest = strings.TrimLeft(rest, " ")
	rest = rest[blobLen(rest):]
	if !strings.HasPrefix(rest, ":") {
		return s, false
	}
	return rest[1:], true
}

// trimSubjectBlob removes a leading subj-blob if what remains is not empty
// (RFC 5256 §2.1 step 4).
func trimSubjectBlob(s string) (string, bool) {
	n := blobLen(s)
	if n == 0 || n == len(s) {
		return s, false
	}
	return s[n:], true
}

// blobLen returns the length of the subj-blob ("[" *BLOBCHAR "]" *WSP) at
// the start of s, or 0.
func blobLen(s string) int {
	if !strings.HasPrefix(s, "[") {
		return 0
	}
	j := strings.IndexAny(s[1:], "[]")
	if j < 0 || s[1+j] != ']' {
		return 0
	}
	n := j + 2
	for n < len(s) && s[n] == ' ' {
		n++
	}
	return n
}

// hasPrefixFold reports whether s starts with the lower-case ASCII prefix,
// ignoring ASCII case only (RFC 5256 matches "re" and "fwd" that way).
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}
