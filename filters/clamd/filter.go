package clamd

import (
	"context"
	"errors"
	"fmt"

	"github.com/yubinmail/yubin/filters"
)

// Filter is a filters.Filter that scans every message with clamd and rejects
// infected ones with 554 5.7.1.
//
// When clamd cannot be reached or fails, Check returns the error and the
// chain's failure policy for the stage decides (by default a 451 tempfail,
// so that no message is lost or let through unscanned).
type Filter struct {
	// Client is the clamd to ask.
	Client *Client
	// MaxSize, if positive, skips scanning messages larger than this many
	// bytes (they are accepted with "skipped" evidence). Set it to clamd's
	// StreamMaxLength to avoid tempfailing large messages forever; 0 scans
	// everything. It applies to the size of the whole raw message, in
	// every Scope.
	MaxSize int64
	// Scope is what is sent to clamd: the whole raw message
	// (ScopeMessage, the zero value), the decoded content of each MIME
	// part (ScopeParts), or the latter for messages that are only plain
	// text and the former for any other (ScopeAuto, the server's default).
	//
	// With ScopeParts, the parts are scanned one after the other on
	// Client, stopping at the first infected one. The message's header
	// is not scanned, so ClamAV signatures for whole mail files (target
	// type 4) do not apply; that is why ScopeMessage is the default. A
	// message is split by core/mimeparse, the parser the IMAP server
	// presents messages with, so that clamd sees the parts the reader's
	// client shows. A message is scanned whole, exactly as with
	// ScopeMessage, when its MIME structure is not read the same way by
	// every parser: any anomaly mimeparse records (a header line that is
	// no field, a bad or repeated Content-Type, a repeated
	// Content-Transfer-Encoding or parameter, a multipart without boundary,
	// parts or closing delimiter, an encoded message/rfc822 part, an
	// unknown transfer encoding), base64 or quoted-printable content that
	// decodes only leniently, nesting deeper than 10 levels, more than 16
	// leaf parts, or a message larger than 64 MiB. clamd's own parser
	// then decides, so broken or hostile MIME never gets less scanning. With
	// ScopeAuto such messages, and any with a part other than text/plain,
	// are scanned whole without further ado.
	Scope Scope
}

var _ filters.Filter = (*Filter)(nil)

// NewFilter returns a Filter that asks c.
func NewFilter(c *Client) *Filter {
	return &Filter{Client: c}
}

// Name returns "clamd".
func (f *Filter) Name() string { return "clamd" }

// Check scans msg.
func (f *Filter) Check(ctx context.Context, msg *filters.Message) (filters.Verdict, error) {
	if f.MaxSize > 0 && msg.Size > f.MaxSize {
		return filters.Verdict{Evidence: []filters.Evidence{{
			Filter: f.Name(),
			Result: "skipped",
			Detail: fmt.Sprintf("message of %d bytes is larger than the scan limit of %d bytes", msg.Size, f.MaxSize),
		}}}, nil
	}
	if f.Scope == ScopeParts || f.Scope == ScopeAuto {
		return f.checkParts(ctx, msg)
	}
	return f.checkWhole(ctx, msg, "")
}

// checkWhole scans the whole raw message. fallback is why a message is
// scanned whole in ScopeParts, "" in ScopeMessage.
func (f *Filter) checkWhole(ctx context.Context, msg *filters.Message, fallback string) (filters.Verdict, error) {
	res, err := f.Client.Scan(ctx, msg.Open())
	if err != nil {
		return filters.Verdict{}, err
	}
	where := ""
	if fallback != "" {
		where = "whole message (fallback: " + fallback + ")"
	}
	if !res.Infected {
		return filters.Verdict{Evidence: []filters.Evidence{{
			Filter: f.Name(), Result: "clean", Detail: where,
		}}}, nil
	}
	detail := res.Signature
	if where != "" {
		detail += " in " + where
	}
	return f.infected(res.Signature, detail), nil
}

// infected returns the verdict on a message in which clamd found sig.
func (f *Filter) infected(sig, detail string) filters.Verdict {
	return filters.Verdict{
		Action:       filters.Reject,
		Code:         554,
		EnhancedCode: [3]int{5, 7, 1},
		Reason:       fmt.Sprintf("message contains a virus (%s)", sig),
		Evidence: []filters.Evidence{{
			Filter: f.Name(),
			Result: "infected",
			Detail: detail,
		}},
	}
}

// checkParts scans each leaf part of msg on its own, or the whole message
// when leafParts says so (or, in ScopeAuto, when a part is not plain text).
func (f *Filter) checkParts(ctx context.Context, msg *filters.Message) (filters.Verdict, error) {
	leaves, err := readLeaves(msg)
	var fb *fallbackError
	if errors.As(err, &fb) {
		if f.Scope == ScopeAuto {
			return f.checkWhole(ctx, msg, "")
		}
		return f.checkWhole(ctx, msg, fb.reason)
	}
	if err != nil {
		return filters.Verdict{}, err
	}
	if f.Scope == ScopeAuto {
		for _, p := range leaves {
			if p.mediaType != "text/plain" {
				return f.checkWhole(ctx, msg, "")
			}
		}
	}
	for i, p := range leaves {
		r, err := f.Client.Scan(ctx, p.body)
		if err != nil {
			return filters.Verdict{}, fmt.Errorf("scanning MIME part %s: %w", p.path, err)
		}
		if r.Infected {
			return f.infected(r.Signature, r.Signature+" in "+leaves[i].describe()), nil
		}
	}
	unit := "parts"
	if len(leaves) == 1 {
		unit = "part"
	}
	return filters.Verdict{Evidence: []filters.Evidence{{
		Filter: f.Name(),
		Result: "clean",
		Detail: fmt.Sprintf("%d %s scanned", len(leaves), unit),
	}}}, nil
}

// readLeaves reads msg and splits it with leafParts.
func readLeaves(msg *filters.Message) ([]*mimePart, error) {
	raw, err := readMessage(msg.Open(), msg.Size)
	if err != nil {
		return nil, err
	}
	return leafParts(raw)
}
