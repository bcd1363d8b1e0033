package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/service"
	"github.com/yubinmail/yubin/mailstore"
)

// appPasswordCommands are `yubin user app-password add|list|remove`.
func appPasswordCommands() []*command {
	return []*command{
		{
			name: "user app-password add", args: "ADDRESS", summary: "make an app password for one mail client of an account",
			help: `The server makes a long random password, prints it once, and keeps only its hash.
Mail clients log in with it over the protocols named (imap, pop3, submission,
managesieve, or all). Once the account has a second factor, or its domain or the
server requires one, only app passwords work on the mail protocols. A new account
password revokes every app password.`,
			flags: func(fs *flag.FlagSet) {
				dataFlag(fs)
				fs.String("name", "", "what the password is for, e.g. \"Thunderbird at home\" (required)")
				fs.String("protocols", "all", "comma-separated: imap, pop3, submission, managesieve, or all")
				fs.Int("expires-in-days", 0, "days until it stops working; 0 = never")
			},
			run: appPasswordAdd,
		},
		{
			name: "user app-password list", args: "ADDRESS", summary: "list an account's app passwords and their last use",
			flags: dataFlag, run: appPasswordList,
		},
		{
			name: "user app-password remove", args: "ADDRESS ID", summary: "revoke one of an account's app passwords",
			flags: dataFlag, run: appPasswordRemove,
		},
		secondFactorResetCommand(),
	}
}

func appPasswordAdd(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(1, 1); err != nil {
		return err
	}
	addr := inv.args[0]
	name := inv.fs.Lookup("name").Value.String()
	if strings.TrimSpace(name) == "" {
		return usagef(inv.cmd.name, "--name is required")
	}
	protos, err := service.ParseProtocols(inv.fs.Lookup("protocols").Value.String())
	if err != nil {
		return usagef(inv.cmd.name, "%v", err)
	}
	days, _ := strconv.Atoi(inv.fs.Lookup("expires-in-days").Value.String())
	if days < 0 || days > 3650 {
		return usagef(inv.cmd.name, "--expires-in-days must be between 0 and 3650")
	}
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		ap, pw, err := svc.CreateAppPassword(ctx, service.System(), addr, mailstore.NewAppPassword{
			Name: name, Protocols: protos, ExpiresAt: service.ExpiryIn(time.Duration(days) * 24 * time.Hour),
		})
		if errors.Is(err, core.ErrNotFound) {
			return fmt.Errorf("no user %s", strings.ToLower(addr))
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "app password %d %q for %s (%s):\n%s\nIt is shown only this once.\n",
			ap.ID, ap.Name, strings.ToLower(addr), strings.Join(ap.Protocols, ", "), pw)
		return nil
	})
}

func appPasswordList(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(1, 1); err != nil {
		return err
	}
	addr := inv.args[0]
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		aps, err := svc.ListAppPasswords(ctx, service.System(), addr)
		if errors.Is(err, core.ErrNotFound) {
			return fmt.Errorf("no user %s", strings.ToLower(addr))
		}
		if err != nil {
			return err
		}
		tb := &table{}
		tb.row("ID", "NAME", "PROTOCOLS", "CREATED", "EXPIRES", "LAST USED", "FROM")
		for _, ap := range aps {
			tb.row(strconv.FormatInt(ap.ID, 10), ap.Name, strings.Join(ap.Protocols, ","), ap.CreatedAt.UTC().Format(time.DateTime),
				timeOrDash(ap.ExpiresAt), timeOrDash(ap.LastUsedAt), orDash(ap.LastUsedFrom))
		}
		if err := tb.write(e.stdout); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s\n", plural(len(aps), "app password"))
		return nil
	})
}

func appPasswordRemove(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(2, 2); err != nil {
		return err
	}
	addr := inv.args[0]
	id, err := strconv.ParseInt(inv.args[1], 10, 64)
	if err != nil || id <= 0 {
		return usagef(inv.cmd.name, "ID must be the number yubin user app-password list shows")
	}
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		err := svc.DeleteAppPassword(ctx, service.System(), addr, id)
		if errors.Is(err, core.ErrNotFound) {
			return fmt.Errorf("%s has no app password %d", strings.ToLower(addr), id)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "revoked app password %d of %s\n", id, strings.ToLower(addr))
		return nil
	})
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.DateTime)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// secondFactorResetCommand is `yubin user second-factor reset`.
func secondFactorResetCommand() *command {
	return &command{
		name: "user second-factor reset", args: "ADDRESS", summary: "turn off an account's second factor (a lost authenticator)",
		help: `The authenticator and recovery codes are deleted and the account's sessions end; the
user signs in with their password and sets up a new authenticator on My account.
Recorded in the audit log.`,
		flags: dataFlag,
		run: func(ctx context.Context, e *env, inv *invocation) error {
			if err := inv.wantArgs(1, 1); err != nil {
				return err
			}
			addr := inv.args[0]
			return withStore(ctx, e, inv, true, func(svc *service.Service) error {
				err := svc.ResetSecondFactor(ctx, service.System(), addr)
				if errors.Is(err, core.ErrNotFound) {
					return fmt.Errorf("no user %s", strings.ToLower(addr))
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "turned off the second factor of %s\n", strings.ToLower(addr))
				return nil
			})
		},
	}
}
