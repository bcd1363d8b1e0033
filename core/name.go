package core

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameLength is the longest name a user gives a credential (an API
// token, an app password), in characters.
const MaxNameLength = 100

// CheckCredentialName checks the name a user gives a credential: 1 to
// MaxNameLength characters of UTF-8, not only spaces, without control
// characters. An error wraps ErrInvalid.
func CheckCredentialName(name string) error {
	n := utf8.RuneCountInString(name)
	if !utf8.ValidString(name) || n < 1 || n > MaxNameLength || strings.TrimSpace(name) == "" {
		return fmt.Errorf("name must be 1 to %d characters of UTF-8: %w", MaxNameLength, ErrInvalid)
	}
	if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return fmt.Errorf("name must not contain control characters: %w", ErrInvalid)
	}
	return nil
}
