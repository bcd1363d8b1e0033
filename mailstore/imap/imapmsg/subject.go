package imapmsg

import (
	"strings"

	"github.com/yubinmail/yubin/core/mimetext"
)

// BaseSubject extracts the base subject of a raw Subject header value as
// RFC 5256 §2.1 defines it for SORT SUBJECT and THREAD: RFC 2047 encoded
// words are decoded to UTF-8, white space is collapsed, and "(fwd)"
// trailers, "Re:"/"Fw:"/"Fwd:" leaders (optionally with "[blob]"s before or
// inside them), leading "[blob]"s that do not make up the whole subject and
// "[fwd: ...]" wrappers are removed, repeatedly, in the RFC's order.
// replyOrForward reports whether any leader, "(fwd)" trailer or "[fwd:]"
// wrapper was removed: RFC 5256 §3 (REFERENCES step 5) treats such a
// message as a reply or forward. The result is not case-mapped; compare
// base subjects with collate.UnicodeCasemap.
func BaseSubject(raw string) (base string, replyOrForward bool) {
	// (1) Decode encoded words, turn tabs and line breaks into spaces and
	// collapse runs of spaces.
	s := collapseSpace(mimetext.DecodeHeader(raw))
	for {
		// (2) Remove trailers: "(fwd)" and white space, repeatedly.
		s, replyOrForward = trimSubjectTrailers(s, replyOrForward)
		// (3)-(5) Remove leaders and leading blobs until none match.
		for {
			if rest, ok := trimLeadingSpace(s); ok {
				s = rest
				continue
			}
			// A run of blobs followed by "Re:" and the like is a leader
			// (3); without one, (4) removes the blobs one by one as long
			// as text remains, which is done here in one go so that a
			// subject of many blobs takes linear time.
			runEnd, lastBlob := blobRun(s)
			if rest, ok := trimRefwd(s[runEnd:]); ok {
				s, replyOrForward = rest, true
				continue
			}
			switch {
			case runEnd == 0:
			case runEnd < len(s):
				s = s[runEnd:]
				continue
			case lastBlob > 0:
				s = s[lastBlob:]
				continue
			}
			break
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

// blobRun returns the end of the run of subj-blobs at the start of s and
// where the last of them starts (0 and 0 without a blob).
func blobRun(s string) (end, last int) {
	for {
		n := blobLen(s[end:])
		if n == 0 {
			return end, last
		}
		last = end
		end += n
	}
}

// trimRefwd removes a subj-refwd from the start of s:
// ("re" / ("fw" ["d"])) *WSP [subj-blob] ":".
func trimRefwd(s string) (string, bool) {
	rest := s
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
