package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/service"
)

// sendAsCommands manage the send-as rights: the addresses (shared accounts,
// aliases) a user may send as besides their own.
func sendAsCommands() []*command {
	return []*command{
		{
			name: "user send-as add", args: "USER ADDRESS", summary: "let a user send as another account or alias",
			help:  "ADDRESS is an account (a shared one such as info@) or an alias of a local domain. On\nsubmission the user may then use it, and its +detail form, as envelope sender and in From;\nthe message is DKIM-signed for its domain.",
			flags: dataFlag, run: sendAsAdd,
		},
		{
			name: "user send-as list", args: "USER", summary: "list the addresses a user may send as",
			flags: dataFlag, run: sendAsList,
		},
		{
			name: "user send-as remove", args: "USER ADDRESS", summary: "take back a user's right to send as an address",
			flags: dataFlag, run: sendAsRemove,
		},
	}
}

func sendAsAdd(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(2, 2); err != nil {
		return err
	}
	user, addr := inv.args[0], inv.args[1]
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		g, err := svc.GrantSendAs(ctx, service.System(), user, addr)
		switch {
		case errors.Is(err, core.ErrExists):
			return fmt.Errorf("%s may already send as %s", strings.ToLower(user), strings.ToLower(addr))
		case err != nil:
			return err
		}
		fmt.Fprintf(e.stdout, "%s may send as %s\n", strings.ToLower(user), g.Address)
		return nil
	})
}

func sendAsList(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(1, 1); err != nil {
		return err
	}
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		gs, err := svc.ListSendAs(ctx, service.System(), inv.args[0])
		if err != nil {
			return err
		}
		tb := &table{}
		tb.row("ADDRESS", "GRANTED")
		for _, g := range gs {
			tb.row(g.Address, g.CreatedAt.Local().Format("2006-01-02"))
		}
		if err := tb.write(e.stdout); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s\n", plural(len(gs), "address"))
		return nil
	})
}

func sendAsRemove(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(2, 2); err != nil {
		return err
	}
	user, addr := inv.args[0], inv.args[1]
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		err := svc.RevokeSendAs(ctx, service.System(), user, addr)
		switch {
		case errors.Is(err, core.ErrNotFound):
			return fmt.Errorf("%s may not send as %s", strings.ToLower(user), strings.ToLower(addr))
		case err != nil:
			return err
		}
		fmt.Fprintf(e.stdout, "%s may no longer send as %s\n", strings.ToLower(user), strings.ToLower(addr))
		return nil
	})
}
