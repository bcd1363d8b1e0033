//go:build !linux

package mailstore

import (
	"fmt"
	"io"
	"os"
)

// openNoPoll opens a file or folder (see the Linux version for why).
func openNoPoll(path string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(path, flag, perm)
}

// createFile creates a new file for writing; it must not exist yet.
func createFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
}

// syncData flushes a file's bytes and metadata to stable storage.
func syncData(f *os.File) error { return f.Sync() }

// readSmallFile opens the file at path and, when it fits in buf, reads it
// whole into buf and closes it (f nil); a larger file is returned open,
// with its size (and no data).
func readSmallFile(path string, buf []byte) (data []byte, f *os.File, size int64, err error) {
	f, err = os.Open(path)
	if err != nil {
		return nil, nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, 0, err
	}
	if st.Size() > int64(len(buf)) {
		return nil, f, st.Size(), nil
	}
	defer f.Close()
	data = buf[:st.Size()]
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, nil, 0, fmt.Errorf("read %s: %w", path, err)
	}
	return data, nil, st.Size(), nil
}
