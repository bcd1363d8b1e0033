package managesieve

import (
	"bufio"
	"bytes"
	"errors"
	"testing"
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
