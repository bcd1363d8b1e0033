package importer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/yubinmail/yubin/core"
)

// mboxSource reads one mbox file (the inbox) or a folder of them: each
// file is a folder named by its path below the folder (Thunderbird's
// "Name.sbd" directories hold the subfolders of "Name"); a top-level file
// named "Inbox" (in any case) is the inbox.
type mboxSource struct {
	path string
	dir  bool
}

// OpenMbox returns the source of the mbox file or folder of files at path.
func OpenMbox(path string) (Source, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("mbox %s: %w", path, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("mbox: %w", err)
	}
	return &mboxSource{path: abs, dir: st.IsDir()}, nil
}

func (s *mboxSource) ID() string   { return "mbox:" + s.path }
func (s *mboxSource) Close() error { return nil }

func (s *mboxSource) Folders(ctx context.Context) ([]Folder, error) {
	if !s.dir {
		return []Folder{{Path: []string{"INBOX"}, Ref: filepath.Base(s.path)}}, nil
	}
	var folders []Folder
	err := filepath.WalkDir(s.path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != s.path {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !looksLikeMbox(p) {
			return nil
		}
		rel, err := filepath.Rel(s.path, p)
		if err != nil {
			return err
		}
		var path []string
		for _, level := range strings.Split(filepath.ToSlash(rel), "/") {
			path = append(path, strings.TrimSuffix(level, ".sbd"))
		}
		if len(path) == 1 && strings.EqualFold(path[0], "INBOX") {
			path[0] = "INBOX"
		}
		folders = append(folders, Folder{Path: path, Ref: filepath.ToSlash(rel)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list mbox folder %s: %w", s.path, err)
	}
	return folders, nil
}

// looksLikeMbox reports whether a file is empty or starts with a From
// line (index files of mail clients beside the mbox files do not).
func looksLikeMbox(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 5)
	n, _ := io.ReadFull(f, head)
	return n == 0 || string(head[:n]) == "From "
}

// mboxFolder is an opened mbox file.
type mboxFolder struct {
	f       *os.File
	items   []Item
	offsets map[string]int64
}

func (s *mboxSource) Open(ctx context.Context, f Folder) (FolderReader, error) {
	p := s.path
	if s.dir {
		p = filepath.Join(s.path, filepath.FromSlash(f.Ref))
	}
	fh, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("mbox: %w", err)
	}
	mf := &mboxFolder{f: fh, offsets: map[string]int64{}}
	seen := map[string]int{}
	err = ParseMbox(fh, func(e *MboxEntry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		key := mboxItemKey(e.Raw, seen)
		mf.items = append(mf.items, Item{Key: key, Size: int64(len(e.Raw))})
		mf.offsets[key] = e.Offset
		return nil
	})
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("read mbox %s: %w", p, err)
	}
	return mf, nil
}

// mboxItemKey names a message of an mbox file by its content's hash and
// how many identical ones came before it in the file, so that a rewritten
// file (messages deleted by a mail client) resumes correctly.
func mboxItemKey(raw []byte, seen map[string]int) string {
	sum := sha256.Sum256(raw)
	h := hex.EncodeToString(sum[:16])
	seen[h]++
	return h + "#" + strconv.Itoa(seen[h])
}

func (f *mboxFolder) Items() []Item { return f.items }
func (f *mboxFolder) Close() error  { return f.f.Close() }

var errStopMbox = errors.New("stop")

func (f *mboxFolder) Read(ctx context.Context, items []Item, fn func(*Message) error) error {
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		off, ok := f.offsets[it.Key]
		if !ok {
			continue
		}
		var msg *Message
		err := ParseMbox(io.NewSectionReader(f.f, off, 1<<62), func(e *MboxEntry) error {
			msg = MboxMessage(e)
			if want := it.Size; int64(len(e.Raw)) != want {
				return fmt.Errorf("message at offset %d changed during the import: %w", off, core.ErrConflict)
			}
			return errStopMbox
		})
		if err != nil && !errors.Is(err, errStopMbox) {
			return fmt.Errorf("mbox %s: %w", f.f.Name(), err)
		}
		if msg == nil {
			return fmt.Errorf("mbox %s: no message at offset %d any more: %w", f.f.Name(), off, core.ErrConflict)
		}
		msg.Item = it.Key
		if err := fn(msg); err != nil {
			return err
		}
	}
	return nil
}
