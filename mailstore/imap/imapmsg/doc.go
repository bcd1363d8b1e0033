// Package imapmsg turns stored messages into IMAP FETCH, SEARCH, SORT and
// THREAD results.
//
// It is the part of Yubin's IMAP server that reads message bytes: it writes
// every FETCH data item (ENVELOPE, BODY/BODYSTRUCTURE, BODY[section],
// BINARY[section], BINARY.SIZE and the cheap metadata items) through a
// go-imap/v2 imapserver.FetchResponseWriter, and it evaluates
// imap.SearchCriteria against one message. For a protocol engine that
// writes its own responses it also offers the pieces on their own, all
// pure functions of a message's bytes:
//
//   - SORT (RFC 5256, RFC 5957 SORT=DISPLAY): SortKeyOf extracts the keys
//     from a header, Sort orders SortRecords; BaseSubject and
//     collate.UnicodeCasemap (RFC 5051 i;unicode-casemap, in core/collate) are the building blocks.
//   - THREAD (RFC 5256 ORDEREDSUBJECT and REFERENCES): ThreadInfoOf,
//     Thread and AppendThreads for the response.
//   - SEARCH FROM/TO/CC/BCC on parsed addresses: MatchAddressField.
//   - PREVIEW (RFC 8970): Message.Preview.
//   - BINARY (RFC 3516) with origin, decoded size and the literal8 rule:
//     Message.BinaryPart.
//   - ENVELOPE with source routes: Message.EnvelopeStructure and
//     Envelope.AppendIMAP.
//   - ReadHeader reads just the header block for SORT, THREAD and ENVELOPE.
//
// # Robustness
//
// Internet mail is often broken, and one bad message must never drop an IMAP
// connection. The MIME structure comes from core/mimeparse, the one MIME
// parser of Yubin (the filters read messages with it too, so the virus
// scanner and the IMAP server see the same parts); it works on the raw
// bytes and never fails. Its package documentation says how malformed
// input is presented. Part numbers follow RFC 9051: part 1 of a
// non-multipart message is its body, part N of a message/rfc822 part
// descends into the embedded message, and a section that does not exist
// is an empty string.
//
// Strings that go into ENVELOPE and BODYSTRUCTURE are made safe for the wire:
// control characters are replaced by spaces, invalid UTF-8 is read as
// ISO-8859-1, and parameter values and descriptions that are not ASCII are
// RFC 2047 encoded (the envelope's subject and names are encoded by go-imap
// itself).
package imapmsg
