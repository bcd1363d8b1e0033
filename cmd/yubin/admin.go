package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/config"
	"github.com/yubinmail/yubin/internal/service"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mta/dkimkeys"
	"github.com/yubinmail/yubin/mta/queue"
)

// The admin commands call the mailstore's service functions, the same ones
// the REST API uses; they never touch the database directly.

const dataHelp = "data folder (default: $YUBIN_DATA, else ./data)"

func dataFlag(fs *flag.FlagSet) { fs.String("data", "", dataHelp) }

func adminCommands() []*command {
	cmds := []*command{
		{
			name: "domain add", args: "NAME", summary: "add a mail domain",
			flags: dataFlag, run: domainAdd,
		},
		{
			name: "domain dkim-rotate", args: "NAME", summary: "give a domain new DKIM keys and print the records to publish",
			help:  "The new keys sign from now on; the old ones stay published for 7 days so that mail\nsigned before verifies. Publish the printed TXT records (RSA values split into\n255-character strings) before or right after rotating.",
			flags: dataFlag, run: domainDKIMRotate,
		},
		{
			name: "domain list", summary: "list the mail domains",
			flags: dataFlag, run: domainList,
		},
		{
			name: "domain remove", args: "NAME", summary: "remove a mail domain",
			help: "A domain that still has users is only removed with --cascade, which deletes its users and all their mail.",
			flags: func(fs *flag.FlagSet) {
				dataFlag(fs)
				fs.Bool("cascade", false, "also delete the domain's users and their mail")
			},
			run: domainRemove,
		},
		{
			name: "user add", args: "ADDRESS", summary: "add an account",
			help: `The domain must exist (yubin domain add). The password comes from
--password or, without it, from standard input: one line, or typed twice
without echo on a terminal. Passwords have at least 8 characters.`,
			flags: func(fs *flag.FlagSet) {
				dataFlag(fs)
				fs.String("password", "", "the password (else read from standard input)")
				fs.String("name", "", "display name, e.g. \"Ann Example\"")
				fs.String("quota", "0", "mailbox size limit in bytes; K, M, G, T suffixes (powers of 1024); 0 = unlimited; not given = the domain's default")
				fs.Int64("quota-messages", 0, "message count limit; 0 = unlimited")
			},
			run: userAdd,
		},
		{
			name: "user list", args: "[DOMAIN]", summary: "list accounts, all or one domain's",
			flags: dataFlag, run: userList,
		},
		{
			name: "user remove", args: "ADDRESS", summary: "remove an account with all its mail",
			flags: dataFlag, run: userRemove,
		},
		{
			name: "user passwd", args: "ADDRESS", summary: "set an account's password",
			help: "The password comes from --password or, without it, from standard input.\n" +
				"An account whose mail is encrypted with its own key (user-key mode) needs\n" +
				"--recovery-key-file (the domain's recovery key: the mail stays readable) or\n" +
				"--discard-encrypted-mail (its old mail becomes unreadable for good).",
			flags: func(fs *flag.FlagSet) {
				dataFlag(fs)
				fs.String("password", "", "the new password (else read from standard input)")
				fs.String("recovery-key-file", "", "file holding the domain's recovery key (AGE-SECRET-KEY-1...), for a user-key account")
				fs.Bool("discard-encrypted-mail", false, "reset a user-key account without the recovery key: its old mail becomes unreadable")
			},
			run: userPasswd,
		},
	}
	cmds = append(cmds, domainAdminCommands()...)
	cmds = append(cmds, userSetCommand())
	cmds = append(cmds, sharedCommands()...)
	cmds = append(cmds, sendAsCommands()...)
	cmds = append(cmds, encryptionCommands()...)
	cmds = append(cmds, appPasswordCommands()...)
	return groupTogether(append(cmds, aliasCommands()...))
}

// groupTogether orders commands so that those of one group ("domain",
// "user") stand together, the groups in the order they first appear.
func groupTogether(cmds []*command) []*command {
	var groups []string
	byGroup := map[string][]*command{}
	for _, c := range cmds {
		g, _, _ := strings.Cut(c.name, " ")
		if _, seen := byGroup[g]; !seen {
			groups = append(groups, g)
		}
		byGroup[g] = append(byGroup[g], c)
	}
	out := make([]*command, 0, len(cmds))
	for _, g := range groups {
		out = append(out, byGroup[g]...)
	}
	return out
}

// openStore opens the mailstore of the data folder chosen by --data or
// YUBIN_DATA. With mustExist, a folder without a database is an error
// rather than a new, empty store (a mistyped --data should not look like
// "no domains").
func openStore(ctx context.Context, e *env, inv *invocation, mustExist bool) (*mailstore.Store, error) {
	dir, err := config.DataDir(inv.fs.Lookup("data").Value.String(), inv.given("data"), e.lookupEnv)
	if err != nil {
		return nil, usagef(inv.cmd.name, "%v", err)
	}
	database, _ := e.lookupEnv("YUBIN_DATABASE")
	database, err = config.DatabaseSetting(database)
	if err != nil {
		return nil, fmt.Errorf("YUBIN_DATABASE: %w", err)
	}
	blobs, _ := e.lookupEnv("YUBIN_BLOBS")
	if mustExist && database == "" {
		if _, err := os.Stat(filepath.Join(dir, "yubin.db")); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no Yubin data in %s (wrong --data or YUBIN_DATA?)", dir)
		}
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sealer, err := loadSealer(e.lookupEnv, dir)
	if err != nil {
		return nil, err
	}
	mode, _ := e.lookupEnv("YUBIN_ENCRYPTION_MODE")
	st, err := mailstore.Open(ctx, mailstore.Options{Dir: dir, Database: database, BlobDir: blobs, Logger: log, Sealer: sealer, EncryptionMode: strings.ToLower(mode)})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// withStore runs fn with an open store and closes it, keeping the first
// error.
func withStore(ctx context.Context, e *env, inv *invocation, mustExist bool, fn func(*service.Service) error) (err error) {
	st, err := openStore(ctx, e, inv, mustExist)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close mailstore: %w", cerr)
		}
	}()
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	svc := service.New(st, log)
	q, err := queue.Open(ctx, st, st, nil)
	if err != nil {
		return err
	}
	svc.WithQueue(q)
	if dir, err := config.DataDir(inv.fs.Lookup("data").Value.String(), inv.given("data"), e.lookupEnv); err == nil {
		sealer, err := loadSealer(e.lookupEnv, dir)
		if err == nil {
			var keys *dkimkeys.Keys
			if keys, err = openDKIMKeys(ctx, st, sealer, dir, log); err == nil {
				svc.WithDKIM(keys)
			}
		}
		if err != nil {
			log.Warn("DKIM keys unavailable: new domains get theirs when they first send", "err", err)
		}
	}
	return fn(svc)
}

func domainAdd(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(1, 1); err != nil {
		return err
	}
	name := inv.args[0]
	return withStore(ctx, e, inv, false, func(svc *service.Service) error {
		d, err := svc.CreateDomain(ctx, service.System(), name, service.DomainSettings{})
		switch {
		case errors.Is(err, core.ErrExists):
			return fmt.Errorf("domain %s already exists", strings.ToLower(name))
		case err != nil:
			return err
		}
		fmt.Fprintf(e.stdout, "added domain %s\n", d.Name)
		return nil
	})
}

func domainList(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(0, 0); err != nil {
		return err
	}
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		ds, err := allPages(func(p service.Page) (*service.List[mailstore.Domain], error) {
			return svc.ListDomains(ctx, service.System(), "", p)
		})
		if err != nil {
			return err
		}
		tb := &table{}
		tb.row("DOMAIN", "USERS", "ENABLED", "CREATED")
		for _, d := range ds {
			users, err := countUsers(ctx, svc, d.Name)
			if err != nil {
				return err
			}
			tb.row(d.Name, strconv.FormatInt(users, 10), yesNo(d.Enabled), d.CreatedAt.Local().Format("2006-01-02"))
		}
		if err := tb.write(e.stdout); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s\n", plural(len(ds), "domain"))
		return nil
	})
}

// allPages collects every item of a paged service listing.
func allPages[T any](list func(service.Page) (*service.List[T], error)) ([]T, error) {
	var all []T
	for offset := 0; ; {
		l, err := list(service.Page{Limit: service.MaxPageSize, Offset: offset})
		if err != nil {
			return nil, err
		}
		all = append(all, l.Items...)
		offset += len(l.Items)
		if len(l.Items) == 0 || int64(offset) >= l.Total {
			return all, nil
		}
	}
}

// countUsers returns how many accounts a domain has.
func countUsers(ctx context.Context, svc *service.Service, domain string) (int64, error) {
	l, err := svc.ListUsers(ctx, service.System(), service.UserFilter{Domain: domain, Page: service.Page{Limit: 1}})
	if err != nil {
		return 0, fmt.Errorf("count users of %s: %w", domain, err)
	}
	return l.Total, nil
}

func domainRemove(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(1, 1); err != nil {
		return err
	}
	name := inv.args[0]
	cascade := inv.fs.Lookup("cascade").Value.String() == "true"
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		var n int64
		if cascade {
			n, _ = countUsers(ctx, svc, name)
		}
		err := svc.DeleteDomain(ctx, service.System(), name, cascade)
		switch {
		case errors.Is(err, core.ErrNotFound):
			return fmt.Errorf("no domain %s", strings.ToLower(name))
		case errors.Is(err, core.ErrConflict):
			users, _ := countUsers(ctx, svc, name)
			return fmt.Errorf("domain %s still has %s: remove them first, or use --cascade to delete them with all their mail",
				strings.ToLower(name), plural(int(users), "user"))
		case err != nil:
			return err
		}
		if cascade && n > 0 {
			fmt.Fprintf(e.stdout, "removed domain %s and its %s\n", strings.ToLower(name), plural(int(n), "user"))
		} else {
			fmt.Fprintf(e.stdout, "removed domain %s\n", strings.ToLower(name))
		}
		return nil
	})
}

func userAdd(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(1, 1); err != nil {
		return err
	}
	addr := inv.args[0]
	quotaGiven := false
	inv.fs.Visit(func(f *flag.Flag) { quotaGiven = quotaGiven || f.Name == "quota" })
	quota, err := config.ParseSize(inv.fs.Lookup("quota").Value.String())
	if err != nil {
		return fmt.Errorf("--quota: %w", err)
	}
	quotaMsgs, _ := strconv.ParseInt(inv.fs.Lookup("quota-messages").Value.String(), 10, 64)
	if quotaMsgs < 0 {
		return usagef(inv.cmd.name, "--quota-messages must not be negative")
	}
	// Check the address before asking for a password for it.
	if _, err := core.ParseAddress(addr); err != nil {
		return err
	}
	pw, err := password(e, inv, true)
	if err != nil {
		return err
	}
	return withStore(ctx, e, inv, false, func(svc *service.Service) error {
		nu := service.NewUser{
			Address:       addr,
			Password:      pw,
			DisplayName:   inv.fs.Lookup("name").Value.String(),
			QuotaMessages: quotaMsgs,
		}
		if quotaGiven {
			nu.QuotaBytes = &quota
		}
		u, err := svc.CreateUser(ctx, service.System(), nu)
		switch {
		case errors.Is(err, core.ErrExists):
			return fmt.Errorf("user %s already exists", strings.ToLower(addr))
		case errors.Is(err, core.ErrNotFound):
			_, domain, _ := strings.Cut(addr, "@")
			return fmt.Errorf("domain %s is not set up: add it first with 'yubin domain add %s'", strings.ToLower(domain), strings.ToLower(domain))
		case err != nil:
			return err
		}
		fmt.Fprintf(e.stdout, "added user %s (quota %s)\n", u.Address, config.FormatSize(u.QuotaBytes))
		return nil
	})
}

func userList(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(0, 1); err != nil {
		return err
	}
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		domain, err := domainArg(ctx, svc, inv)
		if err != nil {
			return err
		}
		us, err := allPages(func(p service.Page) (*service.List[mailstore.User], error) {
			return svc.ListUsers(ctx, service.System(), service.UserFilter{Domain: domain, Page: p})
		})
		if err != nil {
			return err
		}
		tb := &table{}
		tb.row("ADDRESS", "NAME", "QUOTA", "USED", "MESSAGES", "ENABLED")
		for _, u := range us {
			name := u.DisplayName
			if name == "" {
				name = "-"
			}
			tb.row(u.Address, name, config.FormatSize(u.QuotaBytes), humanBytes(u.UsedBytes), strconv.FormatInt(u.UsedMessages, 10), yesNo(u.Enabled))
		}
		if err := tb.write(e.stdout); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s\n", plural(len(us), "user"))
		return nil
	})
}

func userRemove(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(1, 1); err != nil {
		return err
	}
	addr := inv.args[0]
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		err := svc.DeleteUser(ctx, service.System(), addr)
		switch {
		case errors.Is(err, core.ErrNotFound):
			return fmt.Errorf("no user %s", strings.ToLower(addr))
		case err != nil:
			return err
		}
		fmt.Fprintf(e.stdout, "removed user %s\n", strings.ToLower(addr))
		return nil
	})
}

func userPasswd(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(1, 1); err != nil {
		return err
	}
	addr := inv.args[0]
	if _, err := core.ParseAddress(addr); err != nil {
		return err
	}
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		if _, err := svc.GetUser(ctx, service.System(), addr); errors.Is(err, core.ErrNotFound) {
			return fmt.Errorf("no user %s", strings.ToLower(addr))
		} else if err != nil {
			return err
		}
		pw, err := password(e, inv, true)
		if err != nil {
			return err
		}
		patch := service.UserPatch{Password: &pw, DiscardEncryptedMail: inv.fs.Lookup("discard-encrypted-mail").Value.String() == "true"}
		if f := inv.fs.Lookup("recovery-key-file").Value.String(); f != "" {
			b, err := os.ReadFile(f)
			if err != nil {
				return fmt.Errorf("recovery key: %w", err)
			}
			key := recoveryKeyLine(string(b))
			patch.RecoveryKey = &key
		}
		_, err = svc.UpdateUser(ctx, service.System(), addr, patch)
		switch {
		case errors.Is(err, core.ErrNotFound):
			return fmt.Errorf("no user %s", strings.ToLower(addr))
		case errors.Is(err, mailstore.ErrKeyWouldBeLost):
			return fmt.Errorf("%w (--recovery-key-file FILE or --discard-encrypted-mail)", err)
		case err != nil:
			return err
		}
		fmt.Fprintf(e.stdout, "changed the password of %s\n", strings.ToLower(addr))
		return nil
	})
}

// password returns --password if given, else a password read from standard
// input.
func password(e *env, inv *invocation, confirm bool) (string, error) {
	if inv.given("password") {
		return inv.fs.Lookup("password").Value.String(), nil
	}
	return readPassword(e.stdin, e.stderr, confirm)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// plural renders "1 user", "3 users", "2 aliases".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "s") {
		return strconv.Itoa(n) + " " + noun + "es"
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// humanBytes renders a byte count for people: 0, 512B, 1.5K, 20M, 3.2G.
func humanBytes(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + "B"
	}
	f := float64(n)
	for _, unit := range []string{"K", "M", "G", "T"} {
		f /= 1024
		if f < 1024 || unit == "T" {
			if f < 10 {
				return strconv.FormatFloat(f, 'f', 1, 64) + unit
			}
			return strconv.FormatFloat(f, 'f', 0, 64) + unit
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

func domainDKIMRotate(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(1, 1); err != nil {
		return err
	}
	name := inv.args[0]
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		recs, err := svc.RotateDKIM(ctx, service.System(), name)
		switch {
		case errors.Is(err, core.ErrNotFound):
			return fmt.Errorf("no domain %s", strings.ToLower(name))
		case err != nil:
			return err
		}
		sels := slices.Sorted(maps.Keys(recs))
		fmt.Fprintf(e.stdout, "rotated the DKIM keys of %s; publish these TXT records:\n", strings.ToLower(name))
		for _, sel := range sels {
			fmt.Fprintf(e.stdout, "%s._domainkey.%s\t%s\n", sel, strings.ToLower(name), recs[sel])
		}
		return nil
	})
}

// recoveryKeyLine returns the AGE-SECRET-KEY line of a recovery key file
// (which may hold comments), or its trimmed text.
func recoveryKeyLine(text string) string {
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "AGE-SECRET-KEY-") {
			return l
		}
	}
	return strings.TrimSpace(text)
}
