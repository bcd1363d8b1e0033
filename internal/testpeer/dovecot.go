package testpeer

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// DovecotAccount is an account on a Dovecot started by Dovecot.
type DovecotAccount struct {
	User, Password string
}

// DovecotServer is a Dovecot started by Dovecot.
type DovecotServer struct {
	// Addr is its IMAP address, "127.0.0.1:port".
	Addr string
	dir  string
}

// Maildir is the Maildir++ folder of an account's mail.
func (d *DovecotServer) Maildir(user string) string {
	return filepath.Join(d.dir, "home", user, "Maildir")
}

// Dovecot starts Dovecot's IMAP server (Debian package dovecot-imapd) in
// the foreground on a loopback port, as the current user, with its own
// configuration, state and run folders in a temporary folder: accounts in
// a passwd-file, mail in Maildir++ under the folder ("." separator, INBOX
// as a namespace of its own), plaintext login allowed (no TLS), and the
// special-use folders Drafts, Sent Items, Trash, Junk and Archive created
// on login.
func Dovecot(t testing.TB, accounts ...DovecotAccount) *DovecotServer {
	t.Helper()
	return startDovecot(t, "", accounts)
}

// DovecotUnderInbox is Dovecot with the personal namespace under INBOX
// ("INBOX.Sent", as Courier and cPanel hosts have it).
func DovecotUnderInbox(t testing.TB, accounts ...DovecotAccount) *DovecotServer {
	t.Helper()
	return startDovecot(t, "INBOX.", accounts)
}

func startDovecot(t testing.TB, prefix string, accounts []DovecotAccount) *DovecotServer {
	t.Helper()
	bin := Need(t, "/usr/sbin/dovecot", "dovecot-imapd")
	Need(t, "/usr/lib/dovecot/imap", "dovecot-imapd")
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	// Dovecot's login and internal processes run as an unprivileged
	// user: the current one, or, for root, the users the Debian package
	// made (the folders must then be theirs to read).
	loginUser, internalUser, internalGroup := me.Username, me.Username, ""
	mailUID, mailGID := me.Uid, me.Gid
	if g, err := user.LookupGroupId(me.Gid); err == nil {
		internalGroup = g.Name
	}
	if me.Uid == "0" {
		loginUser, internalUser, internalGroup = "dovenull", "dovecot", "dovecot"
		var mailUser *user.User
		for _, u := range []string{loginUser, internalUser} {
			uu, err := user.Lookup(u)
			if err != nil {
				Missing(t, "system user %s (made by the Debian package dovecot-core)", u)
			}
			mailUser = uu
		}
		// The mail is the internal user's: Dovecot refuses root's.
		mailUID, mailGID = mailUser.Uid, mailUser.Gid
		uid, _ := strconv.Atoi(mailUID)
		gid, _ := strconv.Atoi(mailGID)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var pw strings.Builder
	for _, a := range accounts {
		fmt.Fprintf(&pw, "%s:{PLAIN}%s:%s:%s::%s/home/%s\n", a.User, a.Password, mailUID, mailGID, dir, a.User)
	}
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte(pw.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	port := FreePort(t)
	conf := fmt.Sprintf(`# Dovecot for a Yubin test: everything under %[1]s
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = %[2]s
default_internal_group = %[3]s
default_login_user = %[7]s
first_valid_uid = 0
mail_uid = %[4]s
mail_gid = %[5]s
mail_location = maildir:%[1]s/home/%%u/Maildir
mail_privileged_group =
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%%u %[1]s/passwd
}
namespace inbox {
  inbox = yes
  separator = .
  prefix = %[8]s
  mailbox Drafts {
    auto = create
    special_use = \Drafts
  }
  mailbox "Sent Items" {
    auto = create
    special_use = \Sent
  }
  mailbox Trash {
    auto = create
    special_use = \Trash
  }
  mailbox Junk {
    auto = create
    special_use = \Junk
  }
  mailbox Archive {
    auto = create
    special_use = \Archive
  }
}
service imap-login {
  chroot =
  user = %[7]s
  inet_listener imap {
    address = 127.0.0.1
    port = %[6]d
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
service auth {
  user = %[2]s
}
service auth-worker {
  user = %[2]s
}
service stats {
  user = %[2]s
}
service imap-hibernate {
  user = %[2]s
}
`, dir, internalUser, internalGroup, mailUID, mailGID, port, loginUser, prefix)
	confPath := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	Start(t, "tcp", addr, []string{filepath.Join(dir, "dovecot.log")}, bin, "-F", "-c", confPath)
	return &DovecotServer{Addr: addr, dir: dir}
}
