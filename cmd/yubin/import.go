package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"

	"github.com/yubinmail/yubin/internal/importer"
	"github.com/yubinmail/yubin/internal/service"
)

// importCommand is yubin import: bring a user's existing mail in from
// another server or from files (package internal/importer does the work).
func importCommand() *command {
	return &command{
		name: "import", args: "ADDRESS SOURCE", summary: "import a user's existing mail from IMAP, Maildir or mbox",
		help: `SOURCE is one of
  maildir:PATH                 a Maildir++ folder (subfolders .Name.Sub; flags from the
                               file names, keywords from dovecot-keywords)
  mbox:PATH                    an mbox file (into INBOX) or a folder of them (one folder each)
  imap://USER@HOST[:PORT]      an IMAP account (STARTTLS, required but on loopback)
  imaps://USER@HOST[:PORT]     an IMAP account over TLS (port 993 by default)
The IMAP password comes from --password or, without it, from standard input.

Every folder is imported with its messages' exact bytes, flags and keywords and dates;
special-use folders (Sent, Drafts, Trash, Junk, Archive) go to the user's mailboxes of
that use, the others to mailboxes of the same name. Virtual folders (\All, \Flagged,
such as Gmail's "All Mail") are left out. The messages do not pass the filters or Sieve.
The quota holds: an import it stops says so. An import that was interrupted, or run
again later, continues where it ended and brings in only what is new.
--dry-run counts the messages per folder and stores nothing.`,
		flags: func(fs *flag.FlagSet) {
			dataFlag(fs)
			fs.String("password", "", "the IMAP account's password (else read from standard input)")
			fs.Bool("dry-run", false, "count the messages to import per folder; store nothing")
		},
		run: runImport,
	}
}

func runImport(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(2, 2); err != nil {
		return err
	}
	address, source := inv.args[0], inv.args[1]
	spec, err := importer.ParseSpec(source)
	if err != nil {
		return usagef(inv.cmd.name, "%v", err)
	}
	req := service.ImportRequest{Source: source, DryRun: inv.fs.Lookup("dry-run").Value.String() == "true"}
	if !spec.IsLocal() {
		if req.Password, err = password(e, inv, false); err != nil {
			return err
		}
	}
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		done := 0
		progress := func(r *importer.Report) {
			for ; done < len(r.Folders) && r.Folders[done].Done; done++ {
				f := r.Folders[done]
				verb := "imported"
				if r.DryRun {
					verb = "to import"
				}
				fmt.Fprintf(e.stderr, "%s -> %s: %d %s, %d already there\n", f.Folder, f.Mailbox, f.Imported, verb, f.Skipped)
			}
		}
		rep, err := svc.RunImport(ctx, service.System(), address, req, progress)
		if rep != nil {
			printImportReport(e, rep)
		}
		if err == nil && rep.DryRun {
			warnQuota(ctx, e, svc, address, rep)
		}
		return err
	})
}

// warnQuota says when the messages a dry run counted do not fit in the
// user's quota.
func warnQuota(ctx context.Context, e *env, svc *service.Service, address string, rep *importer.Report) {
	u, err := svc.GetUser(ctx, service.System(), address)
	if err != nil || u.QuotaBytes == 0 {
		return
	}
	var size int64
	for _, f := range rep.Folders {
		size += f.Bytes
	}
	if u.UsedBytes+size > u.QuotaBytes {
		fmt.Fprintf(e.stdout, "the messages to import (%s) do not fit in the quota of %s: %s of %s used; raise it first (yubin user set %s --quota SIZE)\n",
			humanBytes(size), u.Address, humanBytes(u.UsedBytes), humanBytes(u.QuotaBytes), u.Address)
	}
}

func printImportReport(e *env, rep *importer.Report) {
	tb := &table{}
	verb := "IMPORTED"
	if rep.DryRun {
		verb = "TO IMPORT"
	}
	tb.row("FOLDER", "MAILBOX", "MESSAGES", "ALREADY THERE", verb, "BYTES")
	for _, f := range rep.Folders {
		tb.row(f.Folder, f.Mailbox, strconv.Itoa(f.Total), strconv.Itoa(f.Skipped), strconv.Itoa(f.Imported), humanBytes(f.Bytes))
	}
	_ = tb.write(e.stdout)
	done, imported, skipped, _ := rep.Totals()
	if rep.DryRun {
		fmt.Fprintf(e.stdout, "dry run: %s to import, %d already there, in %s; nothing stored\n", plural(int(imported), "message"), skipped, plural(len(rep.Folders), "folder"))
		return
	}
	fmt.Fprintf(e.stdout, "imported %s (%d already there) from %d of %s\n", plural(int(imported), "message"), skipped, done, plural(len(rep.Folders), "folder"))
}
