// Package importer brings a user's existing mail into the mailstore from
// another server or from files: IMAP (any server), Maildir++ folders and
// mbox files (sources in their own files). Every folder comes over with
// its messages' exact bytes, flags (keywords too) and internal dates.
//
// Messages go through the mailstore's normal append path, so the quota,
// encryption at rest, MODSEQs and change notifications hold, but not
// through the filter chain or Sieve: it is the user's own, already sorted
// mail. Each batch of messages is committed together with the marks that
// name them (mailstore.AppendBatch.CommitImport), so an import that is
// interrupted at any moment resumes where it stopped when run again and
// never copies a message twice.
package importer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
)

// Folder is one folder of a source.
type Folder struct {
	// Path is the folder's hierarchy, outermost first; the inbox is
	// ["INBOX"].
	Path []string
	// SpecialUse is its RFC 6154 use (\Sent, \Drafts, ...), if the
	// source says.
	SpecialUse string
	// Ref is the source's own name for it (the IMAP mailbox name, the
	// folder or file path relative to the source).
	Ref string
}

// Name is the folder's name as the source shows it.
func (f Folder) Name() string { return f.Ref }

// Message is one message read from a source.
type Message struct {
	// Item names the message within its folder, stably across runs.
	Item  string
	Flags []string
	// Date is the internal date; zero means unknown (now is used).
	Date time.Time
	Body []byte
}

// Item is a message a folder lists, before it is read.
type Item struct {
	Key  string
	Size int64 // 0 if unknown
}

// FolderReader reads one folder of a source.
type FolderReader interface {
	// Items lists the folder's messages, in the order they should be
	// imported.
	Items() []Item
	// Read reads the given items (some of Items, in their order) and
	// calls fn for each.
	Read(ctx context.Context, items []Item, fn func(*Message) error) error
	Close() error
}

// Source is where mail is imported from.
type Source interface {
	// ID names the source in the import marks: the same mail read again
	// (another run) must give the same ID. It holds no secret.
	ID() string
	// Folders lists the folders to import.
	Folders(ctx context.Context) ([]Folder, error)
	// Open starts reading a folder.
	Open(ctx context.Context, f Folder) (FolderReader, error)
	Close() error
}

// FolderReport is what an import did with (or, dry, would do to) one folder.
type FolderReport struct {
	Folder  string `json:"folder"`  // the source's name
	Mailbox string `json:"mailbox"` // ours
	// Total is the folder's messages; Skipped those imported before;
	// Imported those imported now (dry: that would be).
	Total    int   `json:"total"`
	Skipped  int   `json:"skipped"`
	Imported int   `json:"imported"`
	Bytes    int64 `json:"bytes"` // of the messages to import, if known
	Done     bool  `json:"done"`
}

// Report is the progress or outcome of an import.
type Report struct {
	DryRun  bool           `json:"dry_run"`
	Folders []FolderReport `json:"folders"`
}

// Totals sums the report: folders done, messages imported (or to import,
// dry), skipped, and the messages of the folders listed so far.
func (r *Report) Totals() (foldersDone int, imported, skipped, total int64) {
	for _, f := range r.Folders {
		if f.Done {
			foldersDone++
		}
		imported += int64(f.Imported)
		skipped += int64(f.Skipped)
		total += int64(f.Total)
	}
	return
}

// Options tune a run.
type Options struct {
	// DryRun lists and counts the messages to import and stores nothing.
	DryRun bool
	// Progress, if set, is called with the report after every batch.
	// The importer waits for it.
	Progress func(*Report)
	// BatchMessages and BatchBytes cap one commit (defaults 100 and
	// 16 MiB).
	BatchMessages int
	BatchBytes    int64
	Logger        *slog.Logger
}

// ErrOverQuota is the error of an import stopped by the user's quota.
var ErrOverQuota = core.ErrOverQuota

// Store is the mailstore as an import run uses it: the user's mailboxes
// and subscriptions, what earlier runs brought in, and batched appends.
// The mailstore's *mailstore.Store is one.
type Store interface {
	// CreateMailbox creates a mailbox, optionally with a special use (RFC
	// 6154).
	CreateMailbox(ctx context.Context, userID int64, name, specialUse string) (*mailstore.Mailbox, error)
	// GetMailbox returns a user's mailbox by name.
	GetMailbox(ctx context.Context, userID int64, name string) (*mailstore.Mailbox, error)
	// ImportedItems returns the items of a source's folder that an import
	// already brought into the user's mailstore (see
	// AppendBatch.CommitImport).
	ImportedItems(ctx context.Context, userID int64, source, folder string) (map[string]bool, error)
	// ListMailboxes returns a user's mailboxes ordered by name.
	ListMailboxes(ctx context.Context, userID int64) ([]mailstore.Mailbox, error)
	// NewAppendBatch starts appending to a user's existing mailbox.
	NewAppendBatch(ctx context.Context, userID int64, mailbox string) (*mailstore.AppendBatch, error)
	// SetSubscribed adds a name to a user's subscription list or removes it.
	SetSubscribed(ctx context.Context, userID int64, name string, subscribed bool) error
}

// Run imports everything src holds that is not in user's mailstore yet.
// Folders map to the user's mailboxes: special-use folders (the source's
// Sent, Drafts, Trash, Junk, Archive) to the user's mailbox of that use,
// the others by name, created as needed. Virtual folders (\All,
// \Flagged: Gmail's "All Mail" and "Starred") are left out, since their
// messages are in other folders. It stops at the first error (a run
// again resumes), with ErrOverQuota when the quota is full.
func Run(ctx context.Context, store Store, user *mailstore.User, src Source, opts Options) (*Report, error) {
	if opts.BatchMessages <= 0 {
		opts.BatchMessages = 100
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = 16 << 20
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	rep := &Report{DryRun: opts.DryRun}
	folders, err := src.Folders(ctx)
	if err != nil {
		return rep, fmt.Errorf("list the folders of %s: %w", src.ID(), err)
	}
	boxes, err := store.ListMailboxes(ctx, user.ID)
	if err != nil {
		return rep, err
	}
	m := newMailboxMap(boxes)
	kept := folders[:0]
	for _, f := range folders {
		if skipFolder(f) {
			log.Info("virtual folder left out", "source", src.ID(), "folder", f.Name(), "use", f.SpecialUse)
			continue
		}
		kept = append(kept, f)
		rep.Folders = append(rep.Folders, FolderReport{Folder: f.Name(), Mailbox: m.target(f)})
	}
	progress := func() {
		if opts.Progress != nil {
			opts.Progress(rep)
		}
	}
	progress()
	folders = kept
	for i, f := range folders {
		fr := &rep.Folders[i]
		if err := importFolder(ctx, store, user, src, f, fr, opts, progress); err != nil {
			return rep, err
		}
		fr.Done = true
		log.Info("folder imported", "user", user.Address, "source", src.ID(), "folder", f.Name(), "mailbox", fr.Mailbox,
			"imported", fr.Imported, "skipped", fr.Skipped, "dry_run", opts.DryRun)
		progress()
	}
	return rep, nil
}

func importFolder(ctx context.Context, store Store, user *mailstore.User, src Source, f Folder, fr *FolderReport, opts Options, progress func()) error {
	r, err := src.Open(ctx, f)
	if err != nil {
		return fmt.Errorf("open folder %q: %w", f.Name(), err)
	}
	defer r.Close()
	done, err := store.ImportedItems(ctx, user.ID, src.ID(), f.Ref)
	if err != nil {
		return err
	}
	if c, ok := r.(interface{ CheckMarks(map[string]bool) error }); ok {
		if err := c.CheckMarks(done); err != nil {
			return err
		}
	}
	items := r.Items()
	fr.Total = len(items)
	var todo []Item
	for _, it := range items {
		if done[it.Key] {
			fr.Skipped++
			continue
		}
		todo = append(todo, it)
		fr.Bytes += it.Size
	}
	if opts.DryRun {
		fr.Imported = len(todo)
		return nil
	}
	// Empty folders come over too: they are part of the user's order.
	if err := ensureMailbox(ctx, store, user.ID, fr.Mailbox); err != nil {
		return err
	}
	if len(todo) == 0 {
		return nil
	}
	var (
		batch     *mailstore.AppendBatch
		keys      []string
		batchSize int64
	)
	flush := func() error {
		if batch == nil || batch.Len() == 0 {
			return nil
		}
		n := batch.Len()
		_, err := batch.CommitImport(ctx, src.ID(), f.Ref, keys)
		batch, keys, batchSize = nil, nil, 0
		if err != nil {
			return quotaError(err, user, fr)
		}
		fr.Imported += n
		progress()
		return nil
	}
	err = r.Read(ctx, todo, func(msg *Message) error {
		if batch == nil {
			b, err := store.NewAppendBatch(ctx, user.ID, fr.Mailbox)
			if err != nil {
				return err
			}
			batch = b
		}
		flags, err := mailstore.CanonicalFlags(importableFlags(msg.Flags))
		if err != nil {
			return fmt.Errorf("message %s of %q: %w", msg.Item, f.Name(), err)
		}
		if err := batch.Add(ctx, strings.NewReader(string(msg.Body)), flags, msg.Date); err != nil {
			return err
		}
		keys = append(keys, msg.Item)
		batchSize += int64(len(msg.Body))
		if batch.Len() >= opts.BatchMessages || batchSize >= opts.BatchBytes {
			return flush()
		}
		return nil
	})
	if err != nil {
		if batch != nil {
			// Keep what was read before the failure: it is whole.
			if ferr := flush(); ferr != nil {
				return errors.Join(err, ferr)
			}
		}
		return fmt.Errorf("folder %q: %w", f.Name(), err)
	}
	return flush()
}
