package clamd

import (
	"errors"
	"syscall"
)

// alive reports whether the idle session s still looks open: clamd has
// neither closed it nor sent anything on it (such as "COMMAND READ TIMED
// OUT" before closing). It peeks at the socket without blocking.
func (s *session) alive() bool {
	sc, ok := s.conn.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	alive := false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Nothing to read is the only sign of life: data, the end of
		// the stream (n == 0) or an error all mean clamd is done with
		// the session.
		alive = errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EWOULDBLOCK) || errors.Is(rerr, syscall.EINTR)
		return true
	})
	return err == nil && alive
}
