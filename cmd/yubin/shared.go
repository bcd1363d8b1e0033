package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/yubinmail/yubin/internal/config"
	"github.com/yubinmail/yubin/internal/service"
)

// The "shared" commands: shared accounts such as info@, whose mailboxes a
// list of users opens over IMAP (under "Other Users/ADDRESS/"), through
// internal/service like every admin command.

func sharedCommands() []*command {
	return []*command{
		{
			name: "shared add", args: "ADDRESS [MEMBER...]", summary: "make a shared account (info@) that MEMBERs read and answer",
			help: `The shared account receives mail like any account but has no login of its
own: each MEMBER (an existing user) opens its mailboxes over IMAP with their
own login, under "Other Users/ADDRESS/", and sees the others' \Seen and
\Answered. Members get the rights ` + service.DefaultMemberRights + ` (RFC 4314: all but
changing who has access); change them with "yubin shared grant".`,
			flags: func(fs *flag.FlagSet) {
				dataFlag(fs)
				fs.String("name", "", "display name")
				fs.String("quota", "0", "mailbox size limit in bytes; K, M, G, T suffixes (powers of 1024); 0 = unlimited; not given = the domain's default")
			},
			run: sharedAdd,
		},
		{
			name: "shared list", args: "[DOMAIN]", summary: "list shared accounts with their members",
			flags: dataFlag, run: sharedList,
		},
		{
			name: "shared grant", args: "ADDRESS MEMBER", summary: "add a member to a shared account, or change their rights",
			help: `RIGHTS are RFC 4314 letters: l (see), r (read), s (keep \Seen), w (other flags),
i (add messages), p (post), k (create folders), x (delete folders),
t (mark \Deleted), e (expunge), a (change who has access).`,
			flags: func(fs *flag.FlagSet) {
				dataFlag(fs)
				fs.String("rights", service.DefaultMemberRights, "the member's rights")
			},
			run: sharedGrant,
		},
		{
			name: "shared revoke", args: "ADDRESS MEMBER", summary: "take a member's access to a shared account away",
			flags: dataFlag, run: sharedRevoke,
		},
		{
			name: "shared seen", args: "ADDRESS private|shared", summary: "give members their own read state (\\Seen), or one for all",
			help: `private (the default): what one member reads stays unread for the others;
shared: all members share one read state. --mailbox chooses for one folder
(such as INBOX); without it, for every folder of the account.`,
			flags: func(fs *flag.FlagSet) {
				dataFlag(fs)
				fs.String("mailbox", "", "only this folder of the account")
			},
			run: sharedSeen,
		},
		{
			name: "shared remove", args: "ADDRESS", summary: "remove a shared account with all its mail",
			flags: dataFlag, run: sharedRemove,
		},
	}
}

func sharedAdd(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(1, 1<<20); err != nil {
		return err
	}
	var quota *int64
	if inv.given("quota") {
		q, err := config.ParseSize(inv.fs.Lookup("quota").Value.String())
		if err != nil {
			return fmt.Errorf("--quota: %w", err)
		}
		quota = &q
	}
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		sa, err := svc.CreateSharedAccount(ctx, service.System(), service.NewSharedAccount{
			Address: inv.args[0], DisplayName: inv.fs.Lookup("name").Value.String(), QuotaBytes: quota, Members: inv.args[1:],
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "added shared account %s%s\n", sa.Address, membersText(sa))
		return nil
	})
}

// membersText describes the members of a shared account for a message.
func membersText(sa *service.SharedAccount) string {
	if len(sa.Members) == 0 {
		return " (no members yet: add them with yubin shared grant)"
	}
	var parts []string
	for _, m := range sa.Members {
		parts = append(parts, m.Address+" ("+m.Rights+")")
	}
	return " for " + strings.Join(parts, ", ")
}

func sharedList(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(0, 1); err != nil {
		return err
	}
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		domain, err := domainArg(ctx, svc, inv)
		if err != nil {
			return err
		}
		list, err := svc.ListSharedAccounts(ctx, service.System(), domain)
		if err != nil {
			return err
		}
		tb := &table{}
		tb.row("SHARED ACCOUNT", "MEMBERS (RIGHTS)", "USED")
		for i := range list {
			var ms []string
			for _, m := range list[i].Members {
				ms = append(ms, m.Address+" ("+m.Rights+")")
			}
			tb.row(list[i].Address, strings.Join(ms, ", "), humanBytes(list[i].UsedBytes))
		}
		if err := tb.write(e.stdout); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s\n", plural(len(list), "shared account"))
		return nil
	})
}

func sharedGrant(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(2, 2); err != nil {
		return err
	}
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		sa, err := svc.SetSharedMember(ctx, service.System(), inv.args[0], inv.args[1], inv.fs.Lookup("rights").Value.String())
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "shared account %s is now%s\n", sa.Address, membersText(sa))
		return nil
	})
}

func sharedRevoke(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(2, 2); err != nil {
		return err
	}
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		sa, err := svc.RemoveSharedMember(ctx, service.System(), inv.args[0], inv.args[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "removed %s from %s\n", strings.ToLower(inv.args[1]), sa.Address)
		return nil
	})
}

func sharedRemove(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(1, 1); err != nil {
		return err
	}
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		if err := svc.DeleteSharedAccount(ctx, service.System(), inv.args[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "removed shared account %s and its mail\n", strings.ToLower(inv.args[0]))
		return nil
	})
}

func sharedSeen(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(2, 2); err != nil {
		return err
	}
	var private bool
	switch strings.ToLower(inv.args[1]) {
	case "private":
		private = true
	case "shared":
	default:
		return fmt.Errorf("%q: say private or shared", inv.args[1])
	}
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		sa, err := svc.SetSharedSeen(ctx, service.System(), inv.args[0], inv.fs.Lookup("mailbox").Value.String(), private)
		if err != nil {
			return err
		}
		for _, mb := range sa.Mailboxes {
			mode := "shared"
			if mb.PrivateSeen {
				mode = "private"
			}
			fmt.Fprintf(e.stdout, "%s %s: read state %s\n", sa.Address, mb.Name, mode)
		}
		return nil
	})
}
