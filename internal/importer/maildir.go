package importer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/yubinmail/yubin/core"
)

// maildirSource reads a Maildir++ folder: its cur/ and new/ are the inbox,
// its subfolders are the directories .Name and .Name.Sub (Dovecot's
// layout, names in modified UTF-7).
type maildirSource struct {
	root string
}

// OpenMaildir returns the source of the Maildir++ folder at root.
func OpenMaildir(root string) (Source, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("maildir %s: %w", root, err)
	}
	if !isMaildir(abs) {
		return nil, fmt.Errorf("maildir %s: no cur/ or new/ folder in it: %w", root, core.ErrInvalid)
	}
	return &maildirSource{root: abs}, nil
}

func isMaildir(dir string) bool {
	for _, sub := range []string{"cur", "new"} {
		if st, err := os.Stat(filepath.Join(dir, sub)); err == nil && st.IsDir() {
			return true
		}
	}
	return false
}

func (s *maildirSource) ID() string   { return "maildir:" + s.root }
func (s *maildirSource) Close() error { return nil }

func (s *maildirSource) Folders(ctx context.Context) ([]Folder, error) {
	folders := []Folder{{Path: []string{"INBOX"}, Ref: "INBOX"}}
	ents, err := os.ReadDir(s.root)
	if err != nil {
		return nil, fmt.Errorf("read maildir %s: %w", s.root, err)
	}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, ".") || name == "." || name == ".." || !isMaildir(filepath.Join(s.root, name)) {
			continue
		}
		var path []string
		for _, level := range strings.Split(name[1:], ".") {
			path = append(path, decodeMUTF7(level))
		}
		if strings.EqualFold(path[0], "INBOX") {
			path[0] = "INBOX"
		}
		folders = append(folders, Folder{Path: path, Ref: name})
	}
	return folders, nil
}

// maildirFolder is an opened maildir folder.
type maildirFolder struct {
	dir      string
	keywords []string
	files    map[string]maildirFile // by unique name
	items    []Item
}

type maildirFile struct {
	path  string
	flags []string
	mtime time.Time
}

func (s *maildirSource) Open(ctx context.Context, f Folder) (FolderReader, error) {
	dir := s.root
	if f.Ref != "INBOX" {
		dir = filepath.Join(s.root, f.Ref)
	}
	mf := &maildirFolder{dir: dir, files: map[string]maildirFile{}}
	if b, err := os.ReadFile(filepath.Join(dir, "dovecot-keywords")); err == nil {
		mf.keywords = ParseDovecotKeywords(bytes.NewReader(b))
	}
	var order map[string]uint32
	if b, err := os.ReadFile(filepath.Join(dir, "dovecot-uidlist")); err == nil {
		order = parseDovecotUIDList(bytes.NewReader(b))
	}
	type entry struct {
		Item
		uid   uint32
		mtime time.Time
	}
	var entries []entry
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, sub), err)
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue // removed meanwhile
			}
			unique, flags := ParseMaildirName(e.Name(), mf.keywords)
			if sub == "new" {
				flags = nil
			}
			if _, dup := mf.files[unique]; dup {
				continue
			}
			mf.files[unique] = maildirFile{path: filepath.Join(dir, sub, e.Name()), flags: flags, mtime: info.ModTime()}
			entries = append(entries, entry{Item: Item{Key: unique, Size: info.Size()}, uid: order[unique], mtime: info.ModTime()})
		}
	}
	// Dovecot's UID order where it has one, else by date; new messages
	// (no UID yet) last.
	slices.SortStableFunc(entries, func(a, b entry) int {
		switch {
		case a.uid != 0 && b.uid != 0:
			return int(int64(a.uid) - int64(b.uid))
		case a.uid != 0:
			return -1
		case b.uid != 0:
			return 1
		}
		if c := a.mtime.Compare(b.mtime); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	for _, e := range entries {
		mf.items = append(mf.items, e.Item)
	}
	return mf, nil
}

func (f *maildirFolder) Items() []Item { return f.items }
func (f *maildirFolder) Close() error  { return nil }

func (f *maildirFolder) Read(ctx context.Context, items []Item, fn func(*Message) error) error {
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		mf, ok := f.files[it.Key]
		if !ok {
			continue
		}
		body, err := readMessageFile(mf.path)
		if os.IsNotExist(err) {
			// Moved between new/ and cur/ meanwhile, or its flags changed.
			body, err = f.reread(it.Key)
		}
		if err != nil {
			return err
		}
		if err := fn(&Message{Item: it.Key, Flags: mf.flags, Date: mf.mtime, Body: body}); err != nil {
			return err
		}
	}
	return nil
}

// reread finds a message by its unique name again after it was renamed.
func (f *maildirFolder) reread(unique string) ([]byte, error) {
	for _, sub := range []string{"cur", "new"} {
		matches, _ := filepath.Glob(filepath.Join(f.dir, sub, globEscape(unique)+"*"))
		for _, m := range matches {
			if u, _ := ParseMaildirName(filepath.Base(m), nil); u == unique {
				return readMessageFile(m)
			}
		}
	}
	return nil, fmt.Errorf("message %s of %s: vanished during the import: %w", unique, f.dir, os.ErrNotExist)
}

func globEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(s)
}

// readMessageFile reads a message file with its line ends made CRLF, the
// form IMAP serves (Dovecot keeps LF on disk).
func readMessageFile(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b, err := io.ReadAll(core.NewCRLFReader(fh))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}
