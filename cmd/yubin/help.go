package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/yubinmail/yubin/internal/vcsinfo"
)

// printUsage writes the overview of every command.
func printUsage(w io.Writer) {
	fmt.Fprint(w, `Yubin is a mail server: SMTP intake, IMAP and POP3 in one binary.

Usage:
  yubin COMMAND [ARGUMENTS] [FLAGS]

Commands:
`)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s %s\t%s\n", c.name, c.args, c.summary)
	}
	tw.Flush()
	fmt.Fprint(w, `
Flags may stand before or after the arguments. The admin commands (domain,
user, alias, admin) take --data DIR (or YUBIN_DATA; default ./data) and work while
'yubin serve' runs on the same folder.

Run 'yubin help COMMAND' for the flags of a command, e.g. 'yubin help serve',
or 'yubin help user' for every user command.
`)
}

// printCommandHelp writes the help of one command with its flags.
func printCommandHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "Usage: yubin %s %s\n\n%s\n", c.name, c.args, c.summary)
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.help))
	}
	if c.name == "serve" {
		fmt.Fprintln(w, "\nSettings (a flag wins over its environment variable, which wins over the default):")
		newServeLoader().PrintHelp(w)
		return
	}
	if c.flags == nil {
		return
	}
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.flags(fs)
	var b bytes.Buffer
	printFlags(&b, fs)
	if b.Len() > 0 {
		fmt.Fprintf(w, "\nFlags:\n%s", b.String())
	}
}

// flagValueNames name the value of each flag in help texts.
var flagValueNames = map[string]string{
	"data": "DIR", "password": "PW", "name": "NAME", "quota": "SIZE", "quota-messages": "N", "addr": "HOST:PORT",
	"base": "DIR",
}

// printFlags writes a command's flags as the README writes them:
// "--data DIR", "--cascade", "--enabled=true|false", each with its meaning
// on the next line.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		line := "  --" + f.Name
		switch v := f.Value.(type) {
		case *optionalBool:
			line += "=true|false"
		case interface{ IsBoolFlag() bool }:
			if !v.IsBoolFlag() {
				line += " VALUE"
			}
		default:
			name := flagValueNames[f.Name]
			if name == "" {
				name = "VALUE"
			}
			line += " " + name
		}
		fmt.Fprintf(w, "%s\n      %s", line, f.Usage)
		if d := f.DefValue; d != "" && d != "0" && d != "false" {
			fmt.Fprintf(w, " (default %s)", d)
		}
		fmt.Fprintln(w)
	})
}

// printGroupHelp writes the help of every command under a group ("user",
// "domain admin"): first one line each, then each command in full.
func printGroupHelp(w io.Writer, group string, cmds []*command) {
	fmt.Fprintf(w, "Commands of yubin %s:\n", group)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, c := range cmds {
		fmt.Fprintf(tw, "  yubin %s %s\t%s\n", c.name, c.args, c.summary)
	}
	tw.Flush()
	for _, c := range cmds {
		fmt.Fprintln(w, "\n----")
		printCommandHelp(w, c)
	}
}

func helpCommand() *command {
	return &command{
		name:    "help",
		args:    "[COMMAND]",
		summary: "explain a command",
		run: func(_ context.Context, e *env, inv *invocation) error {
			if len(inv.args) == 0 {
				printUsage(e.stdout)
				return nil
			}
			c, rest, err := findCommand(inv.args)
			if err != nil {
				// "yubin help user", "yubin help domain admin": every
				// command of the group.
				var group []*command
				for _, c := range commands() {
					if words := strings.Fields(c.name); len(words) > len(inv.args) && slices.Equal(words[:len(inv.args)], inv.args) {
						group = append(group, c)
					}
				}
				if len(group) > 0 {
					printGroupHelp(e.stdout, strings.Join(inv.args, " "), group)
					return nil
				}
				return err
			}
			if len(rest) > 0 {
				return usagef("help", "help: unexpected argument %q", rest[0])
			}
			printCommandHelp(e.stdout, c)
			return nil
		},
	}
}

func versionCommand() *command {
	return &command{
		name:    "version",
		summary: "print the version",
		run: func(_ context.Context, e *env, inv *invocation) error {
			if err := inv.wantArgs(0, 0); err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, versionString(e.version))
			return nil
		},
	}
}

// versionString describes this build: the version set at link time, else
// the module version or VCS revision recorded by the Go tool.
func versionString(v string) string {
	var extra []string
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		rev, dirty := vcsinfo.Revision(info)
		modified := ""
		if dirty {
			modified = "+dirty"
		}
		if rev != "" {
			extra = append(extra, "commit "+rev[:min(len(rev), 12)]+modified)
		}
	}
	if v == "" {
		v = "dev"
	}
	extra = append(extra, runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH)
	return fmt.Sprintf("yubin %s (%s)", v, strings.Join(extra, ", "))
}
