package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// pop3Client is the smallest POP3 client that can measure RETR: single-line
// commands through net/textproto, and a multi-line reader that un-stuffs
// and counts the message octets without copying them.
type pop3Client struct {
	conn net.Conn
	r    *textproto.Reader
	br   *bufio.Reader
	bw   *bufio.Writer
	caps map[string]bool
}

func pop3Dial(addr string) (*pop3Client, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	c := &pop3Client{conn: conn, br: br, r: textproto.NewReader(br), bw: bufio.NewWriterSize(conn, 16<<10)}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.status(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("POP3 greeting: %w", err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	return c, nil
}

// status reads a +OK/-ERR line.
func (c *pop3Client) status() (string, error) {
	line, err := c.r.ReadLine()
	if err != nil {
		return "", err
	}
	if rest, ok := strings.CutPrefix(line, "+OK"); ok {
		return strings.TrimSpace(rest), nil
	}
	return "", fmt.Errorf("server: %s", line)
}

// cmd sends one command and reads its status line.
func (c *pop3Client) cmd(format string, args ...any) (string, error) {
	fmt.Fprintf(c.bw, format+"\r\n", args...)
	if err := c.bw.Flush(); err != nil {
		return "", err
	}
	return c.status()
}

// login reads CAPA and logs in with USER/PASS.
func (c *pop3Client) login(user, pass string) error {
	c.caps = map[string]bool{}
	if _, err := c.cmd("CAPA"); err == nil {
		lines, err := c.r.ReadDotLines()
		if err != nil {
			return fmt.Errorf("CAPA: %w", err)
		}
		for _, l := range lines {
			if f := strings.Fields(l); len(f) > 0 {
				c.caps[strings.ToUpper(f[0])] = true
			}
		}
	}
	if _, err := c.cmd("USER %s", user); err != nil {
		return fmt.Errorf("USER: %w", err)
	}
	if _, err := c.cmd("PASS %s", pass); err != nil {
		return fmt.Errorf("PASS: %w", err)
	}
	return nil
}

// stat returns the message count and maildrop size.
func (c *pop3Client) stat() (int, int64, error) {
	s, err := c.cmd("STAT")
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(s)
	if len(f) < 2 {
		return 0, 0, fmt.Errorf("STAT: bad reply %q", s)
	}
	n, err1 := strconv.Atoi(f[0])
	size, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("STAT: bad reply %q", s)
	}
	return n, size, nil
}

// readMultiline reads a multi-line body up to the terminating ".",
// un-stuffing dots, and returns the octets of the data (CRLF included).
func (c *pop3Client) readMultiline() (int64, error) {
	var n int64
	atStart := true
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return n, err
		}
		if atStart && len(line) > 0 && line[0] == '.' {
			if err == nil && (string(line) == ".\r\n" || string(line) == ".\n") {
				return n, nil
			}
			line = line[1:]
		}
		n += int64(len(line))
		atStart = err == nil // a full buffer ends in the middle of a line
	}
}

// pop3Run is one RETR of every message.
type pop3Run struct {
	Messages  int
	Bytes     int64 // message octets, as counted by STAT
	Elapsed   time.Duration
	ServerCPU time.Duration
	ClientCPU time.Duration
	Window    int // RETR commands in flight
}

// retrAll sends RETR 1..n with up to window commands in flight (1: no
// pipelining) and reads every message.
func (c *pop3Client) retrAll(n, window int, m meter) (pop3Run, error) {
	r := pop3Run{Window: window}
	tokens := make(chan struct{}, window)
	werr := make(chan error, 1)
	cpu0 := m.cpuTotal()
	self0 := selfCPU()
	start := time.Now()
	go func() {
		for i := 1; i <= n; i++ {
			select {
			case tokens <- struct{}{}:
			default:
				// The window is full: send what is buffered, then wait.
				if err := c.bw.Flush(); err != nil {
					werr <- err
					return
				}
				tokens <- struct{}{}
			}
			c.bw.WriteString("RETR ")
			c.bw.WriteString(strconv.Itoa(i))
			c.bw.WriteString("\r\n")
		}
		werr <- c.bw.Flush()
	}()
	for i := 1; i <= n; i++ {
		if _, err := c.status(); err != nil {
			return r, fmt.Errorf("RETR %d: %w", i, err)
		}
		m, err := c.readMultiline()
		if err != nil {
			return r, fmt.Errorf("RETR %d: %w", i, err)
		}
		<-tokens
		r.Bytes += m
		r.Messages++
	}
	if err := <-werr; err != nil {
		return r, err
	}
	r.Elapsed = time.Since(start)
	r.ServerCPU = m.cpuTotal() - cpu0
	r.ClientCPU = selfCPU() - self0
	return r, nil
}

// quit ends the session with QUIT. No message was marked with DELE, so
// nothing is deleted: a "leave messages on the server" client.
func (c *pop3Client) quit() error {
	_ = c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, err := c.cmd("QUIT")
	c.conn.Close()
	return err
}

func (c *pop3Client) close() { c.conn.Close() }
