package imapserver

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// maxCatenateParts bounds the parts of one CATENATE.
const maxCatenateParts = 1000

// errCatenateAborted ends the store's reading of a CATENATE message that
// failed part way.
var errCatenateAborted = errors.New("CATENATE aborted")

// appendCatenate reads "CATENATE (" cat-part *(SP cat-part) ")" (RFC 4469
// §5), cat-part being "TEXT" SP literal (or literal8), "UTF8" SP "("
// literal8 ")" (RFC 6855) or "URL" SP astring, and adds the
// message the parts make, byte for byte, to the batch (which it starts
// if this is the first message). The parts stream into the store as they
// come; the whole is bounded by APPENDLIMIT.
func (s *session) appendCatenate(name string, batch *AppendTx, flags []string, date time.Time) error {
	s.r.pos += len("CATENATE ")
	if err := s.r.expect('(', "the CATENATE parts"); err != nil {
		return err
	}
	if *batch == nil {
		b, err := s.acct.NewAppend(s.ctx, name)
		if err != nil {
			return s.storeErr("append", err, "TRYCREATE")
		}
		*batch = b
	}
	pr, pw := io.Pipe()
	added := make(chan error, 1)
	go func() {
		err := (*batch).Add(s.ctx, pr, flags, date)
		// A write after Add returned gets its error (or a closed pipe).
		pr.CloseWithError(err)
		added <- err
	}()
	if err := s.catenateParts(pw); err != nil {
		pw.CloseWithError(errCatenateAborted)
		<-added
		return err
	}
	pw.Close()
	if err := <-added; err != nil {
		return s.storeErr("append", err, "TRYCREATE")
	}
	return nil
}

// errWriter records the error of the writer it wraps.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}

// catenateParts reads the parts and writes their bytes to pw. A failed
// write is the store's failure: the rest of the part's literal is read
// and dropped, and the answer is the store's error.
func (s *session) catenateParts(pw *io.PipeWriter) error {
	limit := int64(s.srv.opts.AppendLimit)
	var total int64
	for i := 0; ; i++ {
		if i > 0 {
			if s.r.accept(')') {
				return nil
			}
			if err := s.r.sp(); err != nil {
				return err
			}
		}
		if i >= maxCatenateParts {
			return badf("Too many CATENATE parts (at most %d)", maxCatenateParts)
		}
		switch {
		case s.r.peekWord("TEXT"), s.r.peekWord("UTF8"):
			// "UTF8" SP "(" literal8 ")": text with UTF-8 headers (RFC 6855 §4).
			utf8Part := s.r.peekWord("UTF8")
			s.r.pos += len("TEXT ")
			if utf8Part {
				if !s.utf8 {
					return badf("CATENATE UTF8 needs ENABLE UTF8=ACCEPT first")
				}
				if err := s.r.expect('(', "a parenthesized literal8"); err != nil {
					return err
				}
				if s.r.peek() != '~' {
					return badf("CATENATE UTF8 takes a literal8 (~{n})")
				}
			}
			n, binary, sync, err := s.r.literalHeader(true)
			if err != nil {
				return err
			}
			if total+n > limit {
				return s.r.refuse(n, sync, noErr("TOOBIG", "Message exceeds APPENDLIMIT"))
			}
			total += n
			if err := s.r.startLiteral(sync); err != nil {
				return err
			}
			body := &exactReader{r: s.br, n: n, noNUL: !binary}
			out := &errWriter{w: pw}
			_, copyErr := io.Copy(out, body)
			if body.n > 0 {
				if _, err := io.CopyN(io.Discard, s.br, body.n); err != nil {
					return errors.Join(errFatal, err)
				}
			}
			if err := s.r.finishLiteral(); err != nil {
				return err
			}
			switch {
			case out.err != nil:
				return s.storeErr("append", out.err, "TRYCREATE")
			case errors.Is(copyErr, errNULInLiteral):
				return badf("NUL in a literal: send the part as literal8 (~{n})")
			case copyErr != nil:
				return fmt.Errorf("%w: read literal: %w", errFatal, copyErr)
			}
			if utf8Part {
				if err := s.r.expect(')', "the end of the UTF8 part"); err != nil {
					return err
				}
			}
		case s.r.peekWord("URL"):
			s.r.pos += len("URL ")
			raw, err := s.r.astring("a URL")
			if err != nil {
				return err
			}
			data, err := s.fetchURL(raw, limit-total)
			if err != nil {
				return err
			}
			total += int64(len(data))
			if _, err := pw.Write(data); err != nil {
				return s.storeErr("append", err, "TRYCREATE")
			}
		default:
			return s.r.unexpected("TEXT or URL (a CATENATE part)")
		}
	}
}
