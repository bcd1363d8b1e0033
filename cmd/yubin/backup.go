package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/yubinmail/yubin/internal/backup"
	"github.com/yubinmail/yubin/internal/config"
	"github.com/yubinmail/yubin/mailstore"
)

// backupCommands are yubin backup, yubin backup verify and yubin restore
// (package internal/backup does the work, for the scheduled backups of
// yubin serve too).
func backupCommands() []*command {
	return []*command{
		{
			name: "backup", args: "DEST", summary: "back up the data folder into DEST while the server runs",
			help: "Writes a consistent copy of the data folder (--data, YUBIN_DATA) into the folder DEST without\n" +
				"stopping the server: a snapshot of the database (SQLite VACUUM INTO, which does not block mail),\n" +
				"the message bodies it references (hard-linked when DEST is on the same file system, else copied\n" +
				"and synced) and the folder's other files (DKIM and API keys, certificates). DEST/manifest.json,\n" +
				"written last, lists every file with its size and SHA-256: a folder without it is an incomplete\n" +
				"backup. DEST must be new or empty, unless --incremental.\n\n" +
				"Bodies are backed up as they are on disk: encrypted ones stay encrypted, and the key file\n" +
				"(YUBIN_ENCRYPTION_KEY_FILE) is not in the data folder, so back it up separately.\n" +
				"A hard-linked backup shares the disk of the data folder: copy it elsewhere too.",
			flags: func(fs *flag.FlagSet) {
				dataFlag(fs)
				fs.Bool("incremental", false, "DEST holds an earlier backup: bring it up to date, copying only the bodies it lacks")
				fs.String("base", "", "an earlier complete backup whose bodies are hard-linked (or copied) into DEST instead of read again")
				fs.Bool("copy", false, "copy the bodies even where DEST is on the data folder's file system (no hard links)")
				fs.Bool("verify", false, "read every file of the new backup back and check it against the manifest")
			},
			run: runBackup,
		},
		{
			name: "backup verify", args: "DIR", summary: "check every file of the backup in DIR against its manifest",
			help: "Reads every file of the backup back, compares its size and SHA-256 with the manifest, checks the\n" +
				"database's integrity and that every message body it references is in the backup.",
			run: func(ctx context.Context, e *env, inv *invocation) error {
				if err := inv.wantArgs(1, 1); err != nil {
					return err
				}
				m, err := backup.Verify(ctx, inv.args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "backup %s is intact: %d messages, %d bodies, %d other files, %d bytes (taken %s)\n",
					inv.args[0], m.Messages, len(m.Blobs), len(m.Files), m.Bytes, m.Snapshot.Format("2006-01-02 15:04:05Z"))
				return nil
			},
		},
		{
			name: "restore", args: "SRC", summary: "restore the backup in SRC into a new, empty data folder",
			help: "Copies the backup in SRC into the data folder (--data, YUBIN_DATA), which must be new or empty,\n" +
				"checking every file against the manifest; a damaged or incomplete backup is refused and nothing is\n" +
				"left behind. Then start the server on it with 'yubin serve'. If the bodies were encrypted, give\n" +
				"the server the same key file (YUBIN_ENCRYPTION_KEY_FILE).\n" +
				"The outbound queue is restored held: its messages may have been delivered after the backup was\n" +
				"taken, so release them on the dashboard's queue page once you know (or give --release-queue to\n" +
				"let the restored server send them all again).",
			flags: func(fs *flag.FlagSet) {
				dataFlag(fs)
				fs.Bool("release-queue", false, "do not hold the restored outbound queue: send every queued message again")
			},
			run: func(ctx context.Context, e *env, inv *invocation) error {
				if err := inv.wantArgs(1, 1); err != nil {
					return err
				}
				if err := sqliteOnly(e, "restore"); err != nil {
					return err
				}
				dir, err := config.DataDir(inv.fs.Lookup("data").Value.String(), inv.given("data"), e.lookupEnv)
				if err != nil {
					return usagef(inv.cmd.name, "%v", err)
				}
				m, err := backup.Restore(ctx, inv.args[0], dir)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "restored %d messages, %d bodies, %d other files (%d bytes) from the backup of %s into %s\n",
					m.Messages, len(m.Blobs), len(m.Files), m.Bytes, m.Snapshot.Format("2006-01-02 15:04:05Z"), dir)
				if inv.fs.Lookup("release-queue").Value.String() != "true" {
					held, err := backup.HoldQueue(ctx, dir)
					if err != nil {
						return err
					}
					if held > 0 {
						fmt.Fprintf(e.stdout, "held %s of the outbound queue: the old server may have delivered them after the backup; release them on the dashboard's queue page\n",
							plural(int(held), "message"))
					}
				}
				return checkRestoredKey(ctx, e, dir)
			},
		},
	}
}

func runBackup(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(1, 1); err != nil {
		return err
	}
	if err := sqliteOnly(e, "backup"); err != nil {
		return err
	}
	dir, err := config.DataDir(inv.fs.Lookup("data").Value.String(), inv.given("data"), e.lookupEnv)
	if err != nil {
		return usagef(inv.cmd.name, "%v", err)
	}
	dest := inv.args[0]
	if abs, err := filepath.Abs(dest); err == nil {
		dest = abs
	}
	// The encryption key stays out of the backup even if it was put in the
	// data folder against the advice.
	var exclude []string
	if key, ok := e.lookupEnv("YUBIN_ENCRYPTION_KEY_FILE"); ok && key != "" {
		exclude = append(exclude, key)
	}
	m, err := backup.Create(ctx, backup.Options{
		DataDir:      dir,
		Exclude:      exclude,
		Dest:         dest,
		Incremental:  inv.fs.Lookup("incremental").Value.String() == "true",
		Base:         inv.fs.Lookup("base").Value.String(),
		Copy:         inv.fs.Lookup("copy").Value.String() == "true",
		Verify:       inv.fs.Lookup("verify").Value.String() == "true",
		YubinVersion: versionString(e.version),
		Logger:       slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	verified := ""
	if inv.fs.Lookup("verify").Value.String() == "true" {
		verified = ", verified"
	}
	fmt.Fprintf(e.stdout, "backed up %d messages into %s: %d bodies (%d hard-linked, %d copied, %d from the earlier backup), %d other files, %d bytes%s\n",
		m.Messages, dest, len(m.Blobs), m.Linked, m.Copied, m.Reused, len(m.Files), m.Bytes, verified)
	return nil
}

// checkRestoredKey says whether the restored bodies are encrypted and, if
// YUBIN_ENCRYPTION_KEY_FILE is set, checks that its key opens them: a
// wrong key is an error now rather than unreadable mail later.
func checkRestoredKey(ctx context.Context, e *env, dir string) error {
	sealer, err := loadSealer(e.lookupEnv, dir)
	if err != nil {
		return err
	}
	st, err := mailstore.CheckSealedBodies(ctx, filepath.Join(dir, "blobs"), sealer)
	if err != nil {
		return fmt.Errorf("restored into %s, but: %w", dir, err)
	}
	switch {
	case st.Sealed == 0:
	case sealer == nil:
		fmt.Fprintf(e.stdout, "%d of %d message bodies are encrypted: start the server with %s set to the key file they were encrypted with, or they cannot be read\n",
			st.Sealed, st.Bodies, encryptionKeyEnv)
	default:
		fmt.Fprintf(e.stdout, "%d of %d message bodies are encrypted; the key file opens them\n", st.Sealed, st.Bodies)
	}
	return nil
}

// sqliteOnly refuses the backup commands on a PostgreSQL database
// (YUBIN_DATABASE) or bodies outside the data folder (YUBIN_BLOBS): they
// copy a SQLite data folder with its bodies in DATA/blobs.
func sqliteOnly(e *env, cmd string) error {
	if v, _ := e.lookupEnv("YUBIN_DATABASE"); strings.TrimSpace(v) != "" {
		return fmt.Errorf("yubin %s copies a SQLite data folder; YUBIN_DATABASE names another database: back it up with PostgreSQL's tools (pg_dump) and the body folder (YUBIN_BLOBS) with the files", cmd)
	}
	if v, _ := e.lookupEnv("YUBIN_BLOBS"); strings.TrimSpace(v) != "" {
		return fmt.Errorf("yubin %s copies a data folder with its bodies in DATA/blobs; YUBIN_BLOBS puts them elsewhere: back that folder up with the files", cmd)
	}
	return nil
}
