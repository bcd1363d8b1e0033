package mimeparse

import "bytes"

// span is a byte range [start, end) of the raw message.
type span struct {
	start, end int
}

// splitMultipart returns the body parts of the multipart body raw[start:end]
// delimited by boundary. The line break before a delimiter line belongs to
// the delimiter (RFC 2046). The preamble and the epilogue are dropped; a
// missing closing delimiter ends the last part at end (closed is then
// false). It returns nil when no delimiter line opens a part. squeezed
// reports a delimiter line right after the one that opened the part, so
// that the part lacks the line break RFC 2046 puts before every delimiter.
// mixed reports a line break before a delimiter that is not of the kind
// (CRLF or bare LF) that ends the first delimiter line, which parsers that
// expect one kind throughout read differently.
// padding reports a delimiter line with more than spaces and tabs between
// the boundary and the line break (RFC 2046 transport padding), which
// strict parsers do not take for a delimiter.
// prefix reports a line that starts with the boundary but is no delimiter,
// which RFC 2046 §5.1.1 forbids and strict parsers reject.
func splitMultipart(raw []byte, start, end int, boundary string) (parts []span, closed bool, odd splitOddities) {
	delim := make([]byte, 0, len(boundary)+2)
	delim = append(delim, '-', '-')
	delim = append(delim, boundary...)

	partStart := -1
	firstCRLF := false
	pos := start
	for pos < end {
		lineEnd := end
		if i := bytes.IndexByte(raw[pos:end], '\n'); i >= 0 {
			lineEnd = pos + i + 1
		}
		line := raw[pos:lineEnd]
		if bytes.HasPrefix(line, delim) {
			rest := line[len(delim):]
			closing := bytes.HasPrefix(rest, []byte("--"))
			if closing {
				rest = rest[2:]
			}
			if !isBlank(rest) && partStart >= 0 {
				odd.prefix = true
			}
			if isBlank(rest) {
				if !isPadding(rest) {
					odd.padding = true
				}
				crlf := lineEnd >= 2 && raw[lineEnd-1] == '\n' && raw[lineEnd-2] == '\r'
				if partStart >= 0 {
					if pos == partStart {
						odd.squeezed = true
					}
					before := lineBreakStart(raw, partStart, pos)
					if pos-before == 1 && firstCRLF || pos-before == 2 && !firstCRLF {
						odd.mixed = true
					}
					if raw[lineEnd-1] == '\n' && crlf != firstCRLF {
						odd.mixed = true // the delimiter line's own line break
					}
					parts = append(parts, span{partStart, before})
				} else {
					firstCRLF = crlf
				}
				if closing {
					return parts, true, odd
				}
				partStart = lineEnd
			}
		}
		pos = lineEnd
	}
	if partStart >= 0 {
		parts = append(parts, span{partStart, end})
	}
	return parts, false, odd
}

// lineBreakStart returns where the line break ending just before pos starts,
// without going before min.
func lineBreakStart(raw []byte, min, pos int) int {
	if pos > min && raw[pos-1] == '\n' {
		pos--
		if pos > min && raw[pos-1] == '\r' {
			pos--
		}
	}
	return pos
}

// splitOddities are the departures from RFC 2046 splitMultipart finds;
// see its documentation.
type splitOddities struct {
	squeezed, mixed, padding, prefix bool
}

// isPadding reports whether the rest of a delimiter line is transport
// padding (spaces and tabs) and a line break (CRLF, LF or none).
func isPadding(b []byte) bool {
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	return len(bytes.Trim(b, " \t")) == 0
}

// isBlank reports whether b holds only white space and line-break bytes.
func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}
