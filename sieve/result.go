package sieve

import (
	"context"
	"time"
)

// Environment is what a run may ask of the world outside the message. The
// caller implements it over its stores; Run does no other I/O.
type Environment interface {
	// MailboxExists reports whether the user has a mailbox of that name
	// (UTF-8, hierarchy separator "/"), for the mailboxexists test.
	MailboxExists(ctx context.Context, name string) (bool, error)
	// VacationSeen reports whether a vacation reply with this handle was
	// sent to sender (lower-cased address) less than period ago. An error
	// is taken as "seen": no reply is made, and the run goes on.
	VacationSeen(ctx context.Context, handle, sender string, period time.Duration) (bool, error)
	// Now is the current time; its location is the server's zone for the
	// date tests.
	Now() time.Time
}

// RunOptions are the per-delivery settings of a run.
type RunOptions struct {
	// Limits bound the run (actions, redirects, steps, variable memory,
	// body bytes read). Zero fields take DefaultLimits.
	Limits Limits
	// UserAddresses are the recipient user's own addresses (primary
	// address and aliases). Vacation replies only when one of them (or
	// one given with :addresses) is in the message's To, Cc or Bcc and
	// never to them.
	UserAddresses []string
	// SubaddressDelimiter separates user and detail in a local part (RFC
	// 5233, :user and :detail): each of its characters is a delimiter and
	// the first one found splits, as Postfix's recipient_delimiter does.
	// The caller passes the configured value (YUBIN_SUBADDRESS_DELIMITER);
	// "" means addresses are not split (:detail never matches).
	SubaddressDelimiter string
	// Hostname is used in the Message-ID of vacation replies.
	Hostname string
	// DefaultVacationDays is the period of a vacation without :days
	// (default 7); MinVacationDays the shortest allowed (default 1).
	DefaultVacationDays int
	MinVacationDays     int
}

// ActionKind says what an Action does.
type ActionKind uint8

// Kinds of action.
const (
	// ActionKeep stores the message where it would go without a
	// script: INBOX, or the Junk mailbox when Message.Junk is set.
	ActionKeep ActionKind = iota + 1
	// ActionFileInto stores the message into Mailbox.
	ActionFileInto
	// ActionDiscard records that the script discarded the message;
	// it is stored nowhere unless another action says so.
	ActionDiscard
	// ActionReject refuses the message with Reason: ereject (Extended)
	// asks for an SMTP-level refusal where still possible, reject for a
	// rejection message (RFC 5429) to the envelope sender.
	ActionReject
	// ActionRedirect sends the message on to Address, unchanged, through
	// the outbound queue (or local delivery), keeping the envelope sender
	// as RFC 5228 section 4.2 asks. A redirect to one of the user's own
	// addresses is turned into a keep, so it cannot loop.
	ActionRedirect
	// ActionVacation sends the auto-reply in Vacation.
	ActionVacation
)

// String returns the Sieve name of the action, e.g. "fileinto".
func (k ActionKind) String() string {
	switch k {
	case ActionKeep:
		return "keep"
	case ActionFileInto:
		return "fileinto"
	case ActionDiscard:
		return "discard"
	case ActionReject:
		return "reject"
	case ActionRedirect:
		return "redirect"
	case ActionVacation:
		return "vacation"
	}
	return "unknown"
}

// Action is one thing the caller must do with the message.
type Action struct {
	Kind ActionKind
	// Implicit marks the implicit keep (RFC 5228 section 2.10.2).
	Implicit bool
	// Mailbox is the target of fileinto (UTF-8, "/" separated).
	Mailbox string
	// Create asks to create Mailbox if it does not exist (RFC 5490
	// :create); without it a missing mailbox means the caller stores into
	// INBOX instead and logs why.
	Create bool
	// Flags are the IMAP flags to set on the stored copy (RFC 5232), for
	// keep and fileinto.
	Flags []string
	// Copy is set for fileinto and redirect with :copy (RFC 3894).
	Copy bool
	// Address is the redirect target.
	Address string
	// Reason is the reject or ereject text; Extended is set for ereject.
	Reason   string
	Extended bool
	// Vacation is the auto-reply of a vacation action.
	Vacation *VacationReply
}

// VacationReply is an auto-reply to send (RFC 5230). The caller queues
// Message with an empty envelope sender (MAIL FROM:<>) to To, then
// records (Handle, To) as replied at the current time, so that
// Environment.VacationSeen answers true for Period.
type VacationReply struct {
	// To is the address the reply goes to (the original sender).
	To string
	// Handle identifies the vacation for the once-per-period rule.
	Handle string
	// Period is how long no second reply goes to the same sender.
	Period time.Duration
	// From is the address in the reply's From field.
	From string
	// Subject is the reply's subject.
	Subject string
	// Message is the whole reply, header and body, CRLF line ends.
	Message []byte
}

// Result is the outcome of a successful run.
type Result struct {
	// Actions to perform, in the order the script asked for them; the
	// implicit keep, if any, is last.
	Actions []Action
	// Notes explain decisions worth logging, such as a vacation reply not
	// sent and why.
	Notes []string
}
