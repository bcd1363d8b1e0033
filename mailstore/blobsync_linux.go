package mailstore

import (
	"os"

	"golang.org/x/sys/unix"
)

// openNoPoll opens a file or folder without registering it with Go's
// network poller: os.OpenFile tries to (four fcntl calls and a failing
// epoll_ctl for a regular file), which is pure overhead on the paths that
// open a file per message.
func openNoPoll(path string, flag int, perm os.FileMode) (*os.File, error) {
	fd, err := unix.Open(path, flag|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// createFile creates a new file for writing; it must not exist yet.
func createFile(path string) (*os.File, error) {
	return openNoPoll(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
}

// syncData flushes a file's bytes and the metadata needed to read them
// back (its size) to stable storage: fdatasync(2), which skips the
// timestamps fsync would also write.
func syncData(f *os.File) error {
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
	}
	return nil
}

// readSmallFile opens the file at path and, when it fits in buf, reads it
// whole into buf with one pread and closes it: data is its bytes and f
// nil. A larger file is returned open (f, with its size), and data is its
// first len(buf) bytes. No system call
// is spent on Go's poller, nor on the size of a small file: a pread of a
// regular file returns less than it was asked for only at the end of the
// file, so a pread that does not fill buf has read it all.
func readSmallFile(path string, buf []byte) (data []byte, f *os.File, size int64, err error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, 0, &os.PathError{Op: "open", Path: path, Err: err}
	}
	n, err := unix.Pread(fd, buf, 0)
	for err == unix.EINTR {
		n, err = unix.Pread(fd, buf, 0)
	}
	if err != nil {
		unix.Close(fd)
		return nil, nil, 0, &os.PathError{Op: "read", Path: path, Err: err}
	}
	if n < len(buf) {
		unix.Close(fd)
		return buf[:n], nil, int64(n), nil
	}
	// buf is full: the file may be larger.
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, nil, 0, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Size <= int64(len(buf)) {
		unix.Close(fd)
		return buf[:st.Size], nil, st.Size, nil
	}
	return buf, os.NewFile(uintptr(fd), path), st.Size, nil
}
