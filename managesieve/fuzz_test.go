package managesieve

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// FuzzReadCommand feeds arbitrary input to the command parser: it must
// never panic, keep every string within its bound, and either return
// commands, a client error it recovers from, or end the stream.
func FuzzReadCommand(f *testing.F) {
	for _, seed := range []string{
		"CAPABILITY\r\n",
		"AUTHENTICATE \"PLAIN\" \"AHRpbQB0YW5zdGFhZnRhbnN0YWFm\"\r\n",
		"AUTHENTICATE \"PLAIN\"\r\n{28+}\r\nAHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n",
		"Putscript \"foo\" {31+}\r\n#comment\r\nInvalidSieveCommand\r\n\r\n",
		"PUTSCRIPT \"a\" {5}\r\nkeep;\r\n",
		"HAVESPACE \"myscript\" 999999\r\n",
		"SETACTIVE \"\"\r\nLISTSCRIPTS\r\n",
		"RENAMESCRIPT \"clever\\\"script\" \"b\\\\c\"\r\n",
		"NOOP \"STARTTLS-SYNC-42\"\r\n",
		"NOOP {99999999999}\r\n",
		"NOOP \"unterminated\r\nNOOP\r\n",
		"NOOP {x}\r\nNOOP {3+}\r\nabc\r\n",
		"\r\n\n  LOGOUT\n",
		"NOOP \"\xff\"\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := reader{br: bufio.NewReader(bytes.NewReader(data)), maxLiteral: 64}
		for range 1000 {
			cmd, err := r.readCommand()
			var se *errSyntax
			if errors.As(err, &se) {
				continue
			}
			if err != nil {
				return
			}
			if len(cmd.args) > maxArgs {
				t.Fatalf("%d arguments", len(cmd.args))
			}
			for _, a := range cmd.args {
				if len(a.s) > maxLineBytes && int64(len(a.s)) > r.maxLiteral {
					t.Fatalf("argument of %d octets", len(a.s))
				}
			}
		}
	})
}

// FuzzSession runs a whole session on arbitrary client input (after a
// login, so that every command is reachable): the server must answer
// without panicking, end the session when the input ends, and leave the
// script store consistent (at most one active script, which exists).
func FuzzSession(f *testing.F) {
	for _, seed := range []string{
		"PUTSCRIPT \"a\" {5+}\r\nkeep;\r\nSETACTIVE \"a\"\r\nLISTSCRIPTS\r\nGETSCRIPT \"a\"\r\n",
		"RENAMESCRIPT \"a\" \"b\"\r\nDELETESCRIPT \"b\"\r\nHAVESPACE \"x\" 10\r\n",
		"CHECKSCRIPT \"if true { stop; }\"\r\nNOOP \"t\"\r\nUNAUTHENTICATE\r\nCAPABILITY\r\n",
		"AUTHENTICATE \"PLAIN\"\r\n{4+}\r\n!!!!\r\nLOGOUT\r\n",
		"STARTTLS\r\n",
		"PUTSCRIPT \"x\" {99999}\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		be := newMemBackend()
		srv := NewServer(Options{Backend: be, Logger: quietLogger(), MaxScriptSize: 256, IdleTimeout: time.Minute})
		client, server := net.Pipe()
		sess := newSession(srv, server)
		done := make(chan struct{})
		go func() {
			defer close(done)
			sess.Serve()
		}()
		go io.Copy(io.Discard, client)
		login := "AUTHENTICATE \"PLAIN\" \"" + plain("", testUser, testPass) + "\"\r\n"
		_, _ = client.Write([]byte(login))
		_, _ = client.Write(data)
		client.Close()
		<-done
		be.mu.Lock()
		defer be.mu.Unlock()
		if _, ok := be.scripts[be.active]; be.active != "" && !ok {
			t.Fatalf("active script %q does not exist", be.active)
		}
	})
}
