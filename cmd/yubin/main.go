// Command yubin is the Yubin mail server and its admin tool.
//
//	yubin serve                  run every listener (SMTP, IMAP, POP3, HTTP)
//	yubin domain add|list|remove manage mail domains
//	yubin domain admin add|remove
//	                             appoint domain admins
//	yubin user add|list|remove|passwd|set
//	                             manage accounts
//	yubin admin add|list|remove|passwd
//	                             manage the server admins
//	yubin alias add|list|remove  manage aliases
//	yubin shared add|list|grant|revoke|seen|remove
//	                             manage shared accounts (info@)
//	yubin backup [verify] DIR    back up a running server, check a backup
//	yubin restore SRC            restore a backup into an empty data folder
//	yubin import ADDRESS SOURCE  import a user's mail from IMAP, Maildir or mbox
//	yubin version                print the version
//	yubin help [COMMAND]         explain a command
//
// The admin commands work on the same data folder as a running server.
// Exit status: 0 on success, 1 when the command failed (bad input, a name
// that exists already or does not exist, a listener that cannot bind), 2
// for a usage error (unknown command or flag, wrong number of arguments).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/yubinmail/yubin/internal/config"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	privateUmask()
	e := &env{
		stdin:     os.Stdin,
		stdout:    os.Stdout,
		stderr:    os.Stderr,
		lookupEnv: os.LookupEnv,
		notify: func() (<-chan os.Signal, func()) {
			c := make(chan os.Signal, 2)
			signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
			return c, func() { signal.Stop(c) }
		},
		version: version,
	}
	os.Exit(run(context.Background(), os.Args[1:], e))
}

// env is what a command may use of the outside world; tests replace it.
type env struct {
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
	lookupEnv config.LookupEnv
	// notify starts relaying SIGINT and SIGTERM, and returns the channel
	// and a function that stops it.
	notify  func() (<-chan os.Signal, func())
	version string
}

// usageError is a mistake in how a command was called (exit status 2).
type usageError struct {
	cmd      string // the command whose help explains it, e.g. "user add"
	err      error
	overview bool // print the list of commands after the error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, err: fmt.Errorf(format, args...)}
}

// command is one subcommand (or sub-subcommand).
type command struct {
	name    string // as typed after "yubin", e.g. "user add"
	args    string // synopsis of the arguments
	summary string
	help    string // extra paragraphs for `yubin help CMD`
	flags   func(fs *flag.FlagSet)
	run     func(ctx context.Context, e *env, inv *invocation) error
}

// commands returns every command, in the order of the help text.
func commands() []*command {
	cmds := append(append([]*command{serveCommand()}, adminCommands()...), serverAdminCommands()...)
	cmds = append(cmds, backupCommands()...)
	cmds = append(cmds, importCommand())
	return append(cmds, healthcheckCommand(), versionCommand(), helpCommand())
}

// run executes the command line args and returns the exit status.
func run(ctx context.Context, args []string, e *env) int {
	err := dispatch(ctx, args, e)
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "yubin: %v\n", ue.err)
		if ue.overview {
			fmt.Fprintln(e.stderr)
			printUsage(e.stderr)
			return exitUsage
		}
		if ue.cmd != "" {
			fmt.Fprintf(e.stderr, "Run 'yubin help %s' for usage.\n", ue.cmd)
		} else {
			fmt.Fprintln(e.stderr, "Run 'yubin help' for usage.")
		}
		return exitUsage
	default:
		fmt.Fprintf(e.stderr, "yubin: %v\n", err)
		return exitFail
	}
}

// dispatch finds the command named by the first one or two words of args
// and runs it with the rest.
func dispatch(ctx context.Context, args []string, e *env) error {
	if len(args) == 0 {
		return &usageError{err: errors.New("no command given"), overview: true}
	}
	switch args[0] {
	case "-h", "-help", "--help":
		printUsage(e.stdout)
		return nil
	case "-version", "--version":
		args = []string{"version"}
	}
	leading, args := splitLeadingFlags(args)
	if len(args) == 0 {
		return usagef("", "no command given after %s", strings.Join(leading, " "))
	}
	cmd, rest, err := findCommand(args)
	if err != nil {
		return err
	}
	rest = append(leading, rest...)
	fs := flag.NewFlagSet("yubin "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	inv := &invocation{fs: fs, cmd: cmd}
	if cmd.name != "serve" { // serve parses its own flags (internal/config)
		inv.args, err = parseInterspersed(fs, rest)
		if errors.Is(err, flag.ErrHelp) {
			printCommandHelp(e.stdout, cmd)
			return nil
		}
		if err != nil {
			return &usageError{cmd: cmd.name, err: err}
		}
	} else {
		inv.args = rest
	}
	return cmd.run(ctx, e, inv)
}

// findCommand matches "serve", "version", "help" or an admin command of
// two or three words such as "user add" or "domain admin add": the
// longest command name args starts with.
func findCommand(args []string) (*command, []string, error) {
	all := commands()
	var best *command
	bestLen := 0
	for _, c := range all {
		words := strings.Fields(c.name)
		if len(words) <= len(args) && len(words) > bestLen && slices.Equal(words, args[:len(words)]) {
			best, bestLen = c, len(words)
		}
	}
	if best != nil {
		return best, args[bestLen:], nil
	}
	for n := min(len(args), 2); n >= 1; n-- {
		group := strings.Join(args[:n], " ")
		subs := subcommands(all, args[:n])
		if len(subs) == 0 {
			continue
		}
		if len(args) == n || args[n] == "-h" || args[n] == "--help" || args[n] == "help" {
			return nil, nil, usagef(group, "%s: which one? %s", group, joinOr(subs))
		}
		return nil, nil, usagef(group, "%s: unknown subcommand %q (want %s)", group, args[n], joinOr(subs))
	}
	return nil, nil, usagef("", "unknown command %q", args[0])
}

// subcommands lists the words that follow prefix in the command names
// that start with it ("user" → add, list, ...; "domain admin" → add,
// remove), each once.
func subcommands(all []*command, prefix []string) []string {
	var subs []string
	for _, c := range all {
		words := strings.Fields(c.name)
		if len(words) > len(prefix) && slices.Equal(words[:len(prefix)], prefix) && !slices.Contains(subs, words[len(prefix)]) {
			subs = append(subs, words[len(prefix)])
		}
	}
	return subs
}

// splitLeadingFlags separates flags written before the command ("yubin
// --data /srv/mail user list") from the command and what follows; they
// are then parsed with the command's own flags. A flag takes the next word
// as its value unless it has "=value" or is one of the boolean flags.
func splitLeadingFlags(args []string) (leading, rest []string) {
	i := 0
	for i < len(args) && len(args[i]) > 1 && args[i][0] == '-' {
		if args[i] == "--" {
			return args[:i], args[i+1:]
		}
		name := strings.TrimLeft(args[i], "-")
		_, _, hasValue := strings.Cut(name, "=")
		switch {
		case hasValue, name == "cascade", name == "enabled", name == "insecure-auth", name == "dry-run", name == "h", name == "help":
			i++
		default:
			i += 2
		}
	}
	i = min(i, len(args))
	return args[:i], args[i:]
}

// invocation is a parsed command line.
type invocation struct {
	cmd  *command
	fs   *flag.FlagSet
	args []string // positional arguments
}

// given reports whether the flag name was set on the command line.
func (inv *invocation) given(name string) bool {
	found := false
	inv.fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			found = true
		}
	})
	return found
}

// wantArgs checks the number of positional arguments.
func (inv *invocation) wantArgs(min, max int) error {
	n := len(inv.args)
	switch {
	case n < min && min == max:
		return usagef(inv.cmd.name, "%s: want %s", inv.cmd.name, inv.cmd.args)
	case n < min:
		return usagef(inv.cmd.name, "%s: missing argument %s", inv.cmd.name, inv.cmd.args)
	case n > max:
		return usagef(inv.cmd.name, "%s: unexpected argument %q", inv.cmd.name, inv.args[max])
	}
	return nil
}

// parseInterspersed parses flags that may stand before, between or after
// the positional arguments (the flag package alone stops at the first
// positional one). "--" ends the flags: everything after it is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" && !isFlagValue(fs, args[:used-1]) {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// isFlagValue reports whether the argument after before is the value of a
// flag (before ends with a non-boolean flag without "=value").
func isFlagValue(fs *flag.FlagSet, before []string) bool {
	if len(before) == 0 {
		return false
	}
	last := before[len(before)-1]
	if len(last) < 2 || last[0] != '-' || last == "--" {
		return false
	}
	name := last[1:]
	if name[0] == '-' {
		name = name[1:]
	}
	if _, _, hasValue := strings.Cut(name, "="); hasValue {
		return false
	}
	f := fs.Lookup(name)
	if f == nil {
		return false
	}
	if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
		return false
	}
	return true
}

// joinOr joins words as "a, b or c".
func joinOr(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
