// Package filters defines the filter chain that SMTP intake runs every
// inbound message through before storage.
//
// A Filter inspects a Message (connection info, envelope, parsed header and
// the raw message) and returns a Verdict: an Action (accept, file as junk,
// quarantine, temporarily fail or reject), header fields to add or remove,
// a Rewrite (a milter's changes to the envelope, header fields in place and
// the body, applied by the MTA with ApplyRewrite) and Evidence for logs and
// Authentication-Results. Later stages of a chain see the fields earlier
// ones added and their Evidence (Message.Prior). Filters that can decide
// from the envelope alone also implement EnvelopeFilter and are consulted at
// MAIL FROM.
//
// A Chain runs Stages in order, each with its own failure policy and
// timeout, recovers from panicking filters, combines the verdicts (the most
// severe action wins, and Verdict.Stage names the stage that decided it)
// and counts them for metrics. NewDefaultChain is the
// chain used until real filters (SPF, DKIM, DMARC, spam, antivirus) are
// configured.
package filters
