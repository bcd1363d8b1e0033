package imap

import (
	"errors"
	"log/slog"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/core"
)

// storeError turns a mailstore error into the IMAP answer for it. Errors
// that are not the client's doing are logged and answered NO [SERVERBUG]
// without details. missing is the code for a mailbox that does not exist
// (NONEXISTENT, or TRYCREATE where the client could create it).
func storeError(log *slog.Logger, op string, err error, missing imap.ResponseCode) error {
	var ie *imap.Error
	switch {
	case errors.As(err, &ie):
		return ie
	case errors.Is(err, core.ErrNotFound):
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: missing, Text: "No such mailbox"}
	case errors.Is(err, core.ErrExists):
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAlreadyExists, Text: "Mailbox already exists"}
	case errors.Is(err, core.ErrOverQuota):
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeOverQuota, Text: "Quota exceeded"}
	case errors.Is(err, core.ErrTooLarge):
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: "Message too large"}
	case errors.Is(err, core.ErrInvalid):
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: errorText(err)}
	case errors.Is(err, core.ErrConflict):
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: errorText(err)}
	}
	log.Error("IMAP command failed", "op", op, "err", err)
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeServerBug, Text: "Internal error; try again later"}
}

// errorText is a one-line message for a client: the error's text, which
// for validation errors names the offending input.
func errorText(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return "Invalid request"
		}
	}
	return s
}

// errReadOnly answers commands that would change a mailbox opened with
// EXAMINE.
var errReadOnly = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Mailbox is read-only (EXAMINE)"}
