//go:build unix

package mailstore

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// CheckOwner refuses a data folder that belongs to another user than the
// one running this process: files written there (the database's journal,
// DKIM keys, bodies) would belong to the wrong user, and the server, which
// runs as the folder's owner, could not read them (root running a CLI
// command on the service's folder is the usual case).
func CheckOwner(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data folder %s: %w", dir, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	me := os.Geteuid()
	if int(st.Uid) == me {
		return nil
	}
	return fmt.Errorf("data folder %s belongs to %s, but this command runs as %s: run it as the folder's owner (e.g. sudo -u %s yubin ...) so that every file stays readable by the server",
		dir, userName(int(st.Uid)), userName(me), userName(int(st.Uid)))
}

// userName returns the login name of uid, or "uid N".
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(uid)
}
