package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/config"
	"github.com/yubinmail/yubin/internal/service"
	"github.com/yubinmail/yubin/mailstore"
)

// The alias, "user set" and "domain admin" commands: what an admin needs
// at 2 a.m. without the dashboard. Like the other admin commands they go
// through internal/service, as the CLI actor (audited with source "cli").

func aliasCommands() []*command {
	return []*command{
		{
			name: "alias add", args: "ADDRESS TARGET...", summary: "add an alias, or more targets to an existing one",
			help: `ADDRESS is local@domain, or @domain for the domain's catch-all; the domain
must exist. Mail for it goes to every TARGET: accounts, other aliases or
addresses elsewhere. If the alias exists, the targets are added to it.`,
			flags: dataFlag, run: aliasAdd,
		},
		{
			name: "alias list", args: "[DOMAIN]", summary: "list aliases with their targets, all or one domain's",
			flags: dataFlag, run: aliasList,
		},
		{
			name: "alias remove", args: "ADDRESS [TARGET...]", summary: "remove an alias, or only some of its targets",
			help:  "Without TARGET the whole alias goes; with them only those targets (the alias goes\nwith its last target).",
			flags: dataFlag, run: aliasRemove,
		},
	}
}

func userSetCommand() *command {
	return &command{
		name: "user set", args: "ADDRESS", summary: "change an account's quota, display name, state or language",
		help: `Give at least one flag; the others stay as they are. A disabled account
cannot log in and gets no mail (senders get 550); its mail is kept.`,
		flags: func(fs *flag.FlagSet) {
			dataFlag(fs)
			fs.String("quota", "", "mailbox size limit in bytes; K, M, G, T suffixes (powers of 1024); 0 = unlimited")
			fs.String("quota-messages", "", "message count limit; 0 = unlimited")
			fs.String("name", "", "display name; \"\" clears it")
			fs.Var(&optionalBool{}, "enabled", "true or false: enable or disable the account (--enabled=false)")
			fs.String("language", "", "language of the server's messages to the user (quota warnings): en, ja, or \"\" for the domain's")
		},
		run: userSet,
	}
}

func domainAdminCommands() []*command {
	return []*command{
		{
			name: "domain admin add", args: "DOMAIN ADDRESS", summary: "let an account manage a domain's users and aliases",
			help:  "The account signs in to the dashboard and the REST API with its mail password and\nmanages the domain's users and aliases (not its limits).",
			flags: dataFlag, run: domainAdminAdd,
		},
		{
			name: "domain admin remove", args: "DOMAIN ADDRESS", summary: "withdraw an account's management of a domain",
			flags: dataFlag, run: domainAdminRemove,
		},
	}
}

// optionalBool is a boolean flag that may be left out: --enabled,
// --enabled=true or --enabled=false.
type optionalBool struct {
	set, value bool
}

func (b *optionalBool) String() string {
	if b == nil || !b.set {
		return ""
	}
	return strconv.FormatBool(b.value)
}

func (b *optionalBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true or false")
	}
	b.set, b.value = true, v
	return nil
}

// IsBoolFlag lets --enabled stand alone (true).
func (b *optionalBool) IsBoolFlag() bool { return true }

// aliasName normalises an alias address for messages: local@domain or
// @domain in lower case.
func aliasName(address string) string { return strings.ToLower(strings.TrimSpace(address)) }

func aliasAdd(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(2, 1<<20); err != nil {
		return err
	}
	address, targets := inv.args[0], inv.args[1:]
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		a, err := svc.CreateAlias(ctx, service.System(), address, targets)
		if errors.Is(err, core.ErrExists) {
			old, gerr := svc.GetAlias(ctx, service.System(), address)
			if gerr != nil {
				return gerr
			}
			merged := slices.Clone(old.Targets)
			for _, t := range targets {
				if !slices.ContainsFunc(merged, func(x string) bool { return strings.EqualFold(x, strings.TrimSpace(t)) }) {
					merged = append(merged, t)
				}
			}
			a, err = svc.UpdateAlias(ctx, service.System(), address, merged)
			if err != nil {
				return aliasError(err, address)
			}
			fmt.Fprintf(e.stdout, "alias %s now delivers to %s\n", a.Address, strings.Join(a.Targets, ", "))
			return nil
		}
		if err != nil {
			return aliasError(err, address)
		}
		fmt.Fprintf(e.stdout, "added alias %s for %s\n", a.Address, strings.Join(a.Targets, ", "))
		return nil
	})
}

// aliasError words a failed alias operation for the command line.
func aliasError(err error, address string) error {
	var ve *core.ValidationError
	switch {
	case errors.As(err, &ve):
		return err
	case errors.Is(err, core.ErrNotFound):
		_, domain, _ := strings.Cut(aliasName(address), "@")
		return fmt.Errorf("no alias %s (or domain %s is not set up)", aliasName(address), domain)
	}
	return err
}

func aliasList(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(0, 1); err != nil {
		return err
	}
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		domain, err := domainArg(ctx, svc, inv)
		if err != nil {
			return err
		}
		var all []mailstore.Alias
		for {
			page, err := svc.ListAliases(ctx, service.System(), service.AliasFilter{Domain: domain, Page: service.Page{Limit: service.MaxPageSize, Offset: len(all)}})
			if err != nil {
				return err
			}
			all = append(all, page.Items...)
			if len(page.Items) == 0 || int64(len(all)) >= page.Total {
				break
			}
		}
		tb := &table{}
		tb.row("ALIAS", "TARGETS", "UPDATED")
		for _, a := range all {
			tb.row(a.Address, strings.Join(a.Targets, ", "), a.UpdatedAt.Local().Format("2006-01-02"))
		}
		if err := tb.write(e.stdout); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s\n", plural(len(all), "alias"))
		return nil
	})
}

func aliasRemove(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(1, 1<<20); err != nil {
		return err
	}
	address, targets := inv.args[0], inv.args[1:]
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		if len(targets) > 0 {
			old, err := svc.GetAlias(ctx, service.System(), address)
			if err != nil {
				return aliasError(err, address)
			}
			var keep []string
			for _, x := range old.Targets {
				if !slices.ContainsFunc(targets, func(t string) bool { return strings.EqualFold(strings.TrimSpace(t), x) }) {
					keep = append(keep, x)
				}
			}
			for _, t := range targets {
				if !slices.ContainsFunc(old.Targets, func(x string) bool { return strings.EqualFold(strings.TrimSpace(t), x) }) {
					return fmt.Errorf("alias %s does not deliver to %s (it delivers to %s)", old.Address, t, strings.Join(old.Targets, ", "))
				}
			}
			if len(keep) > 0 {
				a, err := svc.UpdateAlias(ctx, service.System(), address, keep)
				if err != nil {
					return aliasError(err, address)
				}
				fmt.Fprintf(e.stdout, "alias %s now delivers to %s\n", a.Address, strings.Join(a.Targets, ", "))
				return nil
			}
		}
		if err := svc.DeleteAlias(ctx, service.System(), address); err != nil {
			return aliasError(err, address)
		}
		fmt.Fprintf(e.stdout, "removed alias %s\n", aliasName(address))
		return nil
	})
}

// domainArg returns the optional DOMAIN argument of a list command in
// lower case, "" without it, and an error naming a domain that does not
// exist.
func domainArg(ctx context.Context, svc *service.Service, inv *invocation) (string, error) {
	if len(inv.args) == 0 {
		return "", nil
	}
	domain := strings.ToLower(inv.args[0])
	if _, err := svc.GetDomain(ctx, service.System(), domain); errors.Is(err, core.ErrNotFound) {
		return "", fmt.Errorf("no domain %s", domain)
	} else if err != nil {
		return "", err
	}
	return domain, nil
}

func userSet(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(1, 1); err != nil {
		return err
	}
	addr := inv.args[0]
	var p service.UserPatch
	var changes []string
	if inv.given("quota") {
		q, err := config.ParseSize(inv.fs.Lookup("quota").Value.String())
		if err != nil {
			return usagef(inv.cmd.name, "--quota: %v", err)
		}
		p.QuotaBytes = &q
		changes = append(changes, "quota "+config.FormatSize(q))
	}
	if inv.given("quota-messages") {
		n, err := strconv.ParseInt(inv.fs.Lookup("quota-messages").Value.String(), 10, 64)
		if err != nil || n < 0 {
			return usagef(inv.cmd.name, "--quota-messages: want a whole number, 0 or more")
		}
		p.QuotaMessages = &n
		changes = append(changes, "message limit "+strconv.FormatInt(n, 10))
	}
	if inv.given("name") {
		n := inv.fs.Lookup("name").Value.String()
		p.DisplayName = &n
		changes = append(changes, fmt.Sprintf("name %q", n))
	}
	if inv.given("enabled") {
		b := inv.fs.Lookup("enabled").Value.(*optionalBool).value
		p.Enabled = &b
		changes = append(changes, map[bool]string{true: "enabled", false: "disabled"}[b])
	}
	if inv.given("language") {
		l := inv.fs.Lookup("language").Value.String()
		p.Language = &l
		changes = append(changes, fmt.Sprintf("language %q", l))
	}
	if len(changes) == 0 {
		return usagef(inv.cmd.name, "user set: nothing to change: give --quota, --quota-messages, --name, --enabled or --language")
	}
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		u, err := svc.UpdateUser(ctx, service.System(), addr, p)
		switch {
		case errors.Is(err, core.ErrNotFound):
			return fmt.Errorf("no user %s", strings.ToLower(addr))
		case err != nil:
			return err
		}
		fmt.Fprintf(e.stdout, "changed user %s: %s\n", u.Address, strings.Join(changes, ", "))
		return nil
	})
}

func domainAdminAdd(ctx context.Context, e *env, inv *invocation) error {
	return domainAdminChange(ctx, e, inv, true)
}

func domainAdminRemove(ctx context.Context, e *env, inv *invocation) error {
	return domainAdminChange(ctx, e, inv, false)
}

// domainAdminChange appoints (add) or withdraws a domain admin.
func domainAdminChange(ctx context.Context, e *env, inv *invocation, add bool) error {
	if err := inv.wantArgs(2, 2); err != nil {
		return err
	}
	domain, addr := strings.ToLower(inv.args[0]), strings.ToLower(inv.args[1])
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		if _, err := svc.GetDomain(ctx, service.System(), domain); errors.Is(err, core.ErrNotFound) {
			return fmt.Errorf("no domain %s", domain)
		} else if err != nil {
			return err
		}
		if _, err := svc.GetUser(ctx, service.System(), addr); errors.Is(err, core.ErrNotFound) {
			return fmt.Errorf("no user %s: a domain admin signs in with an account of this server", addr)
		} else if err != nil {
			return err
		}
		var err error
		if add {
			err = svc.AddDomainAdmin(ctx, service.System(), domain, addr)
		} else {
			err = svc.RemoveDomainAdmin(ctx, service.System(), domain, addr)
		}
		switch {
		case errors.Is(err, core.ErrNotFound) && !add:
			return fmt.Errorf("%s does not manage %s", addr, domain)
		case errors.Is(err, core.ErrExists) && add:
			return fmt.Errorf("%s already manages %s", addr, domain)
		case err != nil:
			return err
		case add:
			fmt.Fprintf(e.stdout, "%s now manages %s\n", addr, domain)
		default:
			fmt.Fprintf(e.stdout, "%s no longer manages %s\n", addr, domain)
		}
		return nil
	})
}
