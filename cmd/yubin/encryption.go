package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/yubinmail/yubin/internal/service"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mailstore/blobcrypt"
)

// encryptionKeyEnv names the server key that encrypts bodies at rest.
const encryptionKeyEnv = "YUBIN_ENCRYPTION_KEY_FILE"

func encryptionCommands() []*command {
	return []*command{
		{
			name: "encryption keygen", args: "FILE", summary: "make a server key for encryption at rest",
			help: `Writes a new key (an age X25519 identity) to FILE with mode 0600; FILE must
not exist. Keep it outside the data folder and keep a copy in a safe place:
without it the mail cannot be read. Then start the server with
YUBIN_ENCRYPTION_KEY_FILE=FILE: new mail is encrypted at once and the existing
mail in the background (see yubin encrypt).`,
			run: encryptionKeygen,
		},
		{
			name: "encrypt", summary: "encrypt the existing mail at rest now, or show how far it is (--status)",
			help: `Encrypts every message body still in plaintext with the key of
YUBIN_ENCRYPTION_KEY_FILE, one at a time, while the server runs (the server
also does it in the background when it starts with a key). Interrupted, it
loses nothing; run it again to go on. --status only counts.`,
			flags: func(fs *flag.FlagSet) {
				dataFlag(fs)
				fs.Bool("status", false, "only show how many bodies are encrypted")
			},
			run: encryptRun,
		},
	}
}

func encryptionKeygen(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(1, 1); err != nil {
		return err
	}
	pub, err := blobcrypt.GenerateKeyFile(inv.args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s (public key %s)\nstart the server with %s=%s; keep a copy of the file in a safe place\n", inv.args[0], pub, encryptionKeyEnv, inv.args[0])
	return nil
}

func encryptRun(ctx context.Context, e *env, inv *invocation) error {
	if err := inv.wantArgs(0, 0); err != nil {
		return err
	}
	status := inv.fs.Lookup("status").Value.String() == "true"
	if !status {
		if v, _ := e.lookupEnv(encryptionKeyEnv); v == "" {
			return usagef(inv.cmd.name, "%s is not set: make a key with yubin encryption keygen FILE and set it", encryptionKeyEnv)
		}
	}
	return withStore(ctx, e, inv, true, func(svc *service.Service) error {
		if status {
			st, err := svc.EncryptionStatus(ctx, service.System())
			if err != nil {
				return err
			}
			printSealStatus(e.stdout, st)
			return nil
		}
		st, err := svc.EncryptExisting(ctx, service.System(), func(st mailstore.SealStatus) {
			printSealStatus(e.stdout, st)
		})
		if err != nil {
			return err
		}
		printSealStatus(e.stdout, st)
		if st.Unreferenced > 0 {
			fmt.Fprintf(e.stdout, "%d plaintext bodies belong to no message (left by a crash, or being delivered now): the orphan sweep removes them\n", st.Unreferenced)
		}
		return nil
	})
}

func printSealStatus(w io.Writer, st mailstore.SealStatus) {
	pct := 100.0
	if st.Bodies > 0 {
		pct = 100 * float64(st.Sealed) / float64(st.Bodies)
	}
	fmt.Fprintf(w, "encrypted %d of %d message bodies (%.1f%%); %d in plaintext (%d bytes)\n", st.Sealed, st.Bodies, pct, st.Plain, st.PlainBytes)
}

// loadSealer loads the server key named by YUBIN_ENCRYPTION_KEY_FILE for
// the admin commands (nil without one), so that what they store (imports,
// releases) is encrypted like the server's mail.
func loadSealer(lookup func(string) (string, bool), dataDir string) (*blobcrypt.Sealer, error) {
	path, _ := lookup(encryptionKeyEnv)
	if path == "" {
		return nil, nil
	}
	return blobcrypt.LoadServerKey(path, dataDir)
}
