package pop3server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
)

// count returns the number and total size of the messages not marked as
// deleted.
func (s *session) count() (n int, size int64) {
	for i, m := range s.msgs {
		if !s.deleted[i] {
			n++
			size += m.Size
		}
	}
	return n, size
}

// message returns the index of the message that arg numbers, answering
// the error itself when there is none (RFC 1939: a deleted message may not
// be referred to).
func (s *session) message(arg string) (int, bool) {
	i, ok := parseMsgNumber(arg, len(s.msgs))
	if !ok {
		s.bad("-ERR no such message")
		return 0, false
	}
	if s.deleted[i-1] {
		s.reply("-ERR message " + arg + " already deleted")
		return 0, false
	}
	return i - 1, true
}

// cmdStat answers the drop listing (RFC 1939 §5).
func (s *session) cmdStat(cmd command) {
	if !s.arity(cmd, 0, 0) {
		return
	}
	n, size := s.count()
	s.replyf("+OK %d %d", n, size)
}

// cmdList answers the scan listing of one or all messages.
func (s *session) cmdList(cmd command) {
	if !s.arity(cmd, 0, 1) {
		return
	}
	if len(cmd.args) == 1 {
		i, ok := s.message(cmd.args[0])
		if ok {
			s.replyf("+OK %d %d", i+1, s.msgs[i].Size)
		}
		return
	}
	n, size := s.count()
	s.replyf("+OK %d messages (%d octets)", n, size)
	for i, m := range s.msgs {
		if !s.deleted[i] {
			s.replyf("%d %d", i+1, m.Size)
		}
	}
	s.reply(".")
}

// cmdUidl answers the unique-id listing of one or all messages.
func (s *session) cmdUidl(cmd command) {
	if !s.arity(cmd, 0, 1) {
		return
	}
	if len(cmd.args) == 1 {
		i, ok := s.message(cmd.args[0])
		if ok {
			s.replyf("+OK %d %s", i+1, s.msgs[i].UIDL)
		}
		return
	}
	s.reply("+OK unique-id listing follows")
	for i, m := range s.msgs {
		if !s.deleted[i] {
			s.replyf("%d %s", i+1, m.UIDL)
		}
	}
	s.reply(".")
}

// cmdRetr sends a whole message, dot-stuffed.
func (s *session) cmdRetr(cmd command) {
	if !s.arity(cmd, 1, 1) {
		return
	}
	i, ok := s.message(cmd.args[0])
	if !ok {
		return
	}
	s.send(i, -1)
}

// cmdTop sends a message's header and the first n lines of its body.
func (s *session) cmdTop(cmd command) {
	if !s.arity(cmd, 2, 2) {
		return
	}
	i, ok := s.message(cmd.args[0])
	if !ok {
		return
	}
	n, ok := parseCount(cmd.args[1])
	if !ok {
		s.bad("-ERR syntax error in TOP: line count must be a non-negative number")
		return
	}
	s.send(i, n)
}

// send writes message i as a multi-line response; lines >= 0 limits the
// body to that many lines (TOP). Once "+OK" has been written, an error
// cannot be answered any more: the connection is closed instead, so the
// client never takes a truncated message for a whole one.
func (s *session) send(i, lines int) {
	m := s.msgs[i]
	rc, err := s.maildrop.Open(s.ctx, m)
	if err != nil {
		if errors.Is(err, ErrMessageGone) {
			s.reply("-ERR message " + strconv.Itoa(i+1) + " was removed by another session")
			return
		}
		if errors.Is(err, ErrMessageLocked) {
			s.reply("-ERR [SYS/PERM] message " + strconv.Itoa(i+1) + " is encrypted with a key this login has not unlocked")
			return
		}
		s.log.Error("POP3 cannot open message", "uidl", m.UIDL, "err", err)
		s.reply("-ERR [SYS/TEMP] cannot read the message now; try again later")
		return
	}
	defer rc.Close()
	var body io.Reader = rc
	// A body whose reads fail only on I/O errors (one in memory, or a
	// plaintext file: it implements io.WriterTo, see mailstore.Blob) and
	// that one copy buffer holds is sent as it is read, without a copy of
	// its own first.
	_, streams := rc.(io.WriterTo)
	if m.Size <= prereadLimit && !(streams && m.Size <= copyBufferSize) {
		// Read a message of usual size before answering, so that one that
		// cannot be read (a damaged or tampered encrypted body fails
		// authentication) gets -ERR rather than a closed connection.
		buf, err := s.preread(rc, m.Size)
		if err != nil {
			s.log.Error("POP3 cannot read message", "uidl", m.UIDL, "err", err)
			s.reply("-ERR [SYS/TEMP] cannot read the message now; try again later")
			return
		}
		body = bytes.NewReader(buf)
	}
	if lines < 0 {
		s.replyf("+OK %d octets", m.Size)
	} else {
		s.reply("+OK top of message follows")
	}
	if s.copyBuf == nil {
		s.copyBuf = make([]byte, copyBufferSize)
	}
	dw := newDotWriter(s.bw)
	var n int64
	if lines < 0 {
		// Hide any WriteTo of rc (an *os.File has one), which would
		// ignore copyBuf and allocate a buffer of its own.
		n, err = io.CopyBuffer(dw, struct{ io.Reader }{body}, s.copyBuf)
	} else {
		n, err = copyTop(dw, body, lines)
	}
	s.octets += n
	if err != nil {
		s.log.Warn("POP3 message transfer failed; closing the connection", "uidl", m.UIDL, "err", err)
		s.quit = true
		s.Close()
		return
	}
	if err := dw.Close(); err != nil {
		s.quit = true
		return
	}
	s.retrs++
}

// prereadLimit is the largest message send reads whole before answering;
// a larger one is streamed, and a read error in the middle of it closes
// the connection.
const prereadLimit = 1 << 20

// keptPrereadBuffer is the largest preread buffer a session keeps for the
// next message.
const keptPrereadBuffer = 256 << 10

// preread reads the size bytes of a message into the session's buffer.
func (s *session) preread(r io.Reader, size int64) ([]byte, error) {
	buf := s.prereadBuf
	if int64(cap(buf)) < size+bytes.MinRead {
		buf = make([]byte, 0, size+bytes.MinRead)
		if cap(buf) <= keptPrereadBuffer {
			s.prereadBuf = buf
		}
	}
	b := bytes.NewBuffer(buf[:0])
	if _, err := b.ReadFrom(io.LimitReader(r, prereadLimit+1)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// copyTop copies a message's header, the blank line after it, and at most
// lines lines of its body from r to w (the TOP command).
func copyTop(w io.Writer, r io.Reader, lines int) (int64, error) {
	br := bufio.NewReaderSize(r, 4096)
	var n int64
	inBody := false
	midLine := false // the previous slice ended inside a long line
	for !inBody || lines > 0 {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			err = nil // a long line: the rest follows in the next slice
			midLine = true
		} else if len(line) > 0 && line[len(line)-1] == '\n' {
			switch {
			case inBody:
				lines--
			case !midLine && (len(line) == 1 || len(line) == 2 && line[0] == '\r'):
				inBody = true
			}
			midLine = false
		}
		if len(line) > 0 {
			m, werr := w.Write(line)
			n += int64(m)
			if werr != nil {
				return n, werr
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// cmdDele marks a message for deletion at QUIT.
func (s *session) cmdDele(cmd command) {
	if !s.arity(cmd, 1, 1) {
		return
	}
	i, ok := s.message(cmd.args[0])
	if !ok {
		return
	}
	s.deleted[i] = true
	s.reply("+OK message " + cmd.args[0] + " deleted")
}

// cmdRset unmarks every message marked for deletion.
func (s *session) cmdRset(cmd command) {
	if !s.arity(cmd, 0, 0) {
		return
	}
	clear(s.deleted)
	n, size := s.count()
	s.replyf("+OK maildrop has %d messages (%d octets)", n, size)
}

// cmdNoop does nothing.
func (s *session) cmdNoop(cmd command) {
	if !s.arity(cmd, 0, 0) {
		return
	}
	s.reply("+OK")
}

// cmdQuit ends the session. In the TRANSACTION state it enters UPDATE:
// the messages marked for deletion are removed, and only then is "+OK"
// sent; if removing fails nothing is claimed to be deleted.
func (s *session) cmdQuit(cmd command) {
	s.quit = true
	if s.state != stateTransaction {
		s.reply("+OK " + s.srv.opts.Hostname + " POP3 server signing off")
		return
	}
	var del []MessageInfo
	for i, m := range s.msgs {
		if s.deleted[i] {
			del = append(del, m)
		}
	}
	if len(del) > 0 {
		if err := s.maildrop.Delete(s.ctx, del); err != nil {
			s.log.Error("POP3 cannot delete messages at QUIT", "count", len(del), "err", err)
			s.reply("-ERR [SYS/TEMP] some deleted messages not removed")
			return
		}
	}
	n, _ := s.count()
	s.log.Info("POP3 logout", "deleted", len(del), "left", n)
	var b strings.Builder
	b.WriteString("+OK ")
	b.WriteString(s.srv.opts.Hostname)
	b.WriteString(" POP3 server signing off (")
	b.WriteString(strconv.Itoa(n))
	b.WriteString(" messages left)")
	s.reply(b.String())
}
