package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// maxPasswordLine bounds what is read from standard input for a password.
const maxPasswordLine = 4096

// errNoPassword is returned when neither --password nor standard input
// gives a password.
var errNoPassword = errors.New("no password given: use --password or write it on standard input")

// readPassword reads a password from in. On a terminal it prompts on
// prompt and reads without echo (twice, if confirm); otherwise it reads one
// line and strips the line ending.
func readPassword(in io.Reader, prompt io.Writer, confirm bool) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return readTerminalPassword(int(f.Fd()), prompt, confirm)
	}
	line, err := readLine(in)
	if err != nil {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	if line == "" {
		return "", errNoPassword
	}
	return line, nil
}

func readTerminalPassword(fd int, prompt io.Writer, confirm bool) (string, error) {
	fmt.Fprint(prompt, "Password: ")
	pw, err := term.ReadPassword(fd)
	fmt.Fprintln(prompt)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	if len(pw) == 0 {
		return "", errNoPassword
	}
	if confirm {
		fmt.Fprint(prompt, "Repeat password: ")
		again, err := term.ReadPassword(fd)
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(again) != string(pw) {
			return "", errors.New("the passwords do not match")
		}
	}
	return string(pw), nil
}

// readLine reads one line of at most maxPasswordLine bytes, without its
// line ending. A missing final newline is fine; an empty input gives "".
func readLine(in io.Reader) (string, error) {
	r := bufio.NewReaderSize(io.LimitReader(in, maxPasswordLine+2), 64)
	var b strings.Builder
	for {
		chunk, err := r.ReadString('\n')
		b.WriteString(chunk)
		if err == io.EOF || strings.HasSuffix(chunk, "\n") {
			break
		}
		if err != nil {
			return "", err
		}
	}
	line := strings.TrimSuffix(strings.TrimSuffix(b.String(), "\n"), "\r")
	if len(line) > maxPasswordLine {
		return "", fmt.Errorf("line longer than %d bytes", maxPasswordLine)
	}
	return line, nil
}
