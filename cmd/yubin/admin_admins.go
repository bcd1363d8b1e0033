package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/service"
)

// serverAdminCommands manage the server admins: the accounts of the REST
// API and the dashboard that manage the whole server. They are what an
// admin who is locked out reaches for: they work on the data folder, also
// while the server runs.
func serverAdminCommands() []*command {
	withPassword := func(usage string) func(fs *flag.FlagSet) {
		return func(fs *flag.FlagSet) {
			dataFlag(fs)
			fs.String("password", "", usage)
		}
	}
	return []*command{
		{
			name: "admin add", args: "EMAIL", summary: "add a server admin (REST API and dashboard)",
			help:  "The password comes from --password or, without it, from standard input: one line,\nor typed twice without echo on a terminal. Passwords have at least 8 characters.",
			flags: withPassword("the password (else read from standard input)"), run: adminAdd,
		},
		{
			name: "admin list", summary: "list the server admins",
			flags: dataFlag, run: adminList,
		},
		{
			name: "admin remove", args: "EMAIL", summary: "remove a server admin (never the last one)",
			help:  "The admin's sessions and API tokens end with it.",
			flags: dataFlag, run: adminRemove,
		},
		{
			name: "admin passwd", args: "EMAIL", summary: "set a server admin's password (to recover access)",
			help:  "The password comes from --password or, without it, from standard input. The admin's\nsessions and API tokens end: they sign in again with the new password.",
			flags: withPassword("the new password (else read from standard input)"), run: adminPasswd,
		},
	}
}

func adminAdd(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(1, 1); err != nil {
		return err
	}
	email := inv.args[0]
	if _, err := core.ParseAddress(email); err != nil {
		return err
	}
	pw, err := password(e, inv, true)
	if err != nil {
		return err
	}
	return withStore(ctx, e, inv, false, func(svc *service.Service) error {
		ad, err := svc.CreateAdmin(ctx, service.System(), email, pw)
		switch {
		case errors.Is(err, core.ErrExists):
			return fmt.Errorf("admin %s already exists", strings.ToLower(email))
		case err != nil:
			return err
		}
		fmt.Fprintf(e.stdout, "added server admin %s\n", ad.Email)
		return nil
	})
}

func adminList(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(0, 0); err != nil {
		return err
	}
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		as, err := svc.ListAdmins(ctx, service.System())
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "EMAIL\tCREATED")
		for _, a := range as {
			fmt.Fprintf(tw, "%s\t%s\n", a.Email, a.CreatedAt.Local().Format("2006-01-02"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s\n", plural(len(as), "admin"))
		return nil
	})
}

func adminRemove(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(1, 1); err != nil {
		return err
	}
	email := inv.args[0]
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		err := svc.DeleteAdmin(ctx, service.System(), email)
		switch {
		case errors.Is(err, core.ErrNotFound):
			return fmt.Errorf("no admin %s", strings.ToLower(email))
		case errors.Is(err, core.ErrConflict):
			return fmt.Errorf("%s is the last server admin: add another first (yubin admin add)", strings.ToLower(email))
		case err != nil:
			return err
		}
		fmt.Fprintf(e.stdout, "removed server admin %s\n", strings.ToLower(email))
		return nil
	})
}

func adminPasswd(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(1, 1); err != nil {
		return err
	}
	email := inv.args[0]
	if _, err := core.ParseAddress(email); err != nil {
		return err
	}
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		if _, err := svc.GetAdmin(ctx, service.System(), email); errors.Is(err, core.ErrNotFound) {
			return fmt.Errorf("no admin %s (yubin admin list shows them)", strings.ToLower(email))
		} else if err != nil {
			return err
		}
		pw, err := password(e, inv, true)
		if err != nil {
			return err
		}
		if _, err := svc.SetAdminPassword(ctx, service.System(), email, pw); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "changed the password of server admin %s; their sessions and API tokens ended\n", strings.ToLower(email))
		return nil
	})
}
