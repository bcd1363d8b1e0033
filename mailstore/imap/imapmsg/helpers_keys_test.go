package imapmsg

import "unicode/utf8"

// isValidUTF8 reports whether s is valid UTF-8.
func isValidUTF8(s string) bool { return utf8.ValidString(s) }
