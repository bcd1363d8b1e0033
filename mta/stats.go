package mta

import "sync/atomic"

// RejectReason names why a message or a recipient was refused with a
// permanent (5xx) reply. It is the key of Stats.Rejected.
type RejectReason string

// The reasons counted in Stats.Rejected.
const (
	// RejectUnknownUser is a RCPT for an address of a local domain that
	// has no (enabled) account.
	RejectUnknownUser RejectReason = "unknown_user"
	// RejectRelay is a RCPT for a domain Yubin does not serve.
	RejectRelay RejectReason = "relay_denied"
	// RejectBadAddress is a malformed MAIL FROM or RCPT TO address.
	RejectBadAddress RejectReason = "bad_address"
	// RejectSender is a sender refused by the filters' sender check.
	RejectSender RejectReason = "sender"
	// RejectSize is a message over the size limit.
	RejectSize RejectReason = "size"
	// RejectLoop is a message with too many Received fields.
	RejectLoop RejectReason = "loop"
	// RejectPolicy is a message the content filters rejected.
	RejectPolicy RejectReason = "policy"
	// RejectQuota is a message larger than the whole quota of every
	// recipient, or a RCPT whose mailbox quota is smaller than the SIZE=
	// of MAIL FROM.
	RejectQuota RejectReason = "quota"
)

// rejectReasons lists every RejectReason, in the order of the counters.
func rejectReasons() []RejectReason {
	return []RejectReason{RejectUnknownUser, RejectRelay, RejectBadAddress, RejectSender, RejectSize, RejectLoop, RejectPolicy, RejectQuota}
}

// Stats is a snapshot of a Server's counters since it was created.
type Stats struct {
	// Sessions counts SMTP sessions that greeted (HELO/EHLO); STARTTLS
	// begins a new one.
	Sessions uint64
	// Accepted counts messages stored and answered with 250.
	Accepted uint64
	// Junk counts the accepted messages filed into the Junk mailbox.
	Junk uint64
	// Quarantined counts the accepted messages held for an administrator.
	Quarantined uint64
	// LocalDelivered counts the local recipients of submitted messages
	// that got their copy (remote ones are the outbound queue's).
	LocalDelivered uint64
	// TempFailed counts senders, recipients and messages answered with a
	// 4xx reply: filter tempfail, store failure, full mailboxes (at RCPT or
	// at delivery), internal errors (not transfers the client aborted).
	TempFailed uint64
	// Rejected counts permanent refusals of messages and recipients by
	// reason; every reason is present, zero or not.
	Rejected map[RejectReason]uint64
}

// counters are the atomics behind Stats.
type counters struct {
	sessions    atomic.Uint64
	accepted    atomic.Uint64
	junk        atomic.Uint64
	quarantined atomic.Uint64
	tempFailed  atomic.Uint64
	localDone   atomic.Uint64
	rejected    [8]atomic.Uint64 // indexed like rejectReasons()
}

func (c *counters) reject(r RejectReason) {
	for i, rr := range rejectReasons() {
		if rr == r {
			c.rejected[i].Add(1)
			return
		}
	}
}

func (c *counters) snapshot() Stats {
	st := Stats{
		Sessions:       c.sessions.Load(),
		Accepted:       c.accepted.Load(),
		Junk:           c.junk.Load(),
		Quarantined:    c.quarantined.Load(),
		TempFailed:     c.tempFailed.Load(),
		LocalDelivered: c.localDone.Load(),
		Rejected:       make(map[RejectReason]uint64, len(c.rejected)),
	}
	for i, r := range rejectReasons() {
		st.Rejected[r] = c.rejected[i].Load()
	}
	return st
}
