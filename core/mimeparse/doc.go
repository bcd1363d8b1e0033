// Package mimeparse is Yubin's one MIME parser: the IMAP server
// (BODYSTRUCTURE, BODY[section], BINARY, SEARCH), the spam filter and the
// virus scanner all read a message's structure through it, so that they
// agree on every message, malformed ones included: an attacker cannot pick
// a message on which the scanner sees no attachment and the reader's IMAP
// client shows one.
//
// Parse indexes the raw bytes of a message into a tree of Parts (header,
// media type, parameters, transfer encoding, children of a multipart, the
// message embedded in a message/rfc822 part) without copying them. It
// never fails; what departs from the RFCs is presented by the rules below
// and recorded as an Anomaly, so that a caller that must not guess can
// treat the message as a whole. Decode undoes transfer encodings;
// ReadHeader and ParseHeader read just a header block.
//
// # Rules for malformed input
//
// Internet mail is often broken. These are the rules, chosen per RFC 2045,
// RFC 2046 and RFC 5322 where they decide and for safety where they do not:
//
//   - The header of an entity runs to its first empty line, or to its end if
//     there is none: RFC 5322 §2.1 separates the body from the header by an
//     empty line, so without one there is no body. A line that is neither a
//     field ("name:", the name printable US-ASCII) nor a continuation line
//     is kept in the header but is no field (HeaderLine); the fields after
//     it count. Yubin's MTA reads headers the same way, so every field a
//     filter checks or removes is a field here, and no client that skips
//     such lines can show a From field the DMARC check did not see. An mbox
//     "From " line at the very start of a message is skipped.
//   - The header bytes followed by the body are always exactly the entity.
//   - Bare LF line endings are accepted everywhere CRLF is.
//   - A multipart part is split on delimiter lines ("--" boundary, optional
//     "--", optional trailing white space). The preamble and epilogue are
//     ignored; a multipart without a closing delimiter ends at the end of its
//     enclosing part.
//   - An entity that cannot be presented as the container its Content-Type
//     claims is presented as a single text/plain leaf covering the same bytes,
//     with the declared parameters (minus "boundary") and charset us-ascii if
//     none was given. That happens to a multipart whose boundary parameter is
//     missing or matches no delimiter line, to a message/rfc822 (or
//     message/global) part with a base64 or quoted-printable encoding, and to
//     any container nested deeper than MaxDepth levels or found after MaxParts
//     parts were created. A multipart therefore never has zero children.
//   - A multipart with more delimited parts than the remaining part budget
//     keeps the first ones; the others are not addressable.
//   - A missing or invalid Content-Type means text/plain; charset=us-ascii
//     (message/rfc822 inside multipart/digest), as RFC 2045 says. Of two
//     Content-Type (or Content-Transfer-Encoding) fields, or two parameters
//     of one name, the first counts (DuplicateField, DuplicateParam).
//   - A delimiter line directly after the one that opened a part (without a
//     line break of its own) closes an empty part (SqueezedPart).
//   - A line break before a delimiter belongs to the delimiter, CRLF or LF
//     for each delimiter on its own. A delimiter at the very end of the
//     entity opens an empty last part.
//   - The boundary is matched on whole lines whatever the part's transfer
//     encoding: a delimiter line inside quoted-printable text (after a soft
//     line break, say) still ends the part (RFC 2046 §5.1.1 forbids the
//     boundary in the content).
//   - Transfer encodings decode leniently (Decode): base64 skips bytes
//     outside its alphabet, quoted-printable keeps bad escapes; both report
//     it (MalformedEncodingError). An unknown encoding leaves the body as it
//     is (UnknownEncoding).
//   - In a quoted parameter value, a backslash quotes only a special
//     character; before any other it is kept (Windows paths in file names).
//   - Message.Part numbers parts as IMAP does (RFC 9051): part 1 of a
//     non-multipart message is its body, part N of a message/rfc822 part
//     descends into the embedded message.
//
// Bounds against hostile input: at most MaxDepth levels of nesting and
// MaxParts entities per message, 50000 indexed fields per header,
// MaxHeaderBytes read by ReadHeader. Lines may be of any length: the parser
// only indexes, it never copies a line.
package mimeparse
