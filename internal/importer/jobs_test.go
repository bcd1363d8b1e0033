package importer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/yubinmail/yubin/internal/testpeer"
	"github.com/yubinmail/yubin/mailstore"
)

func mboxOf(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "From x Mon Feb  3 04:05:06 2020\nSubject: %d\n\nbody %d\n\n", i, i)
	}
	path := filepath.Join(t.TempDir(), "mbox")
	writeFile(t, path, b.String(), time.Time{})
	return path
}

func newJobs(t *testing.T, ctx context.Context, st *mailstore.Store, keyFile string) *Jobs {
	t.Helper()
	jctx, cancel := context.WithCancel(ctx)
	j, err := NewJobs(jctx, st, keyFile, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); j.Wait() })
	return j
}

// TestJobResumesAfterRestart: a job that was running when the server
// stopped (part of its mail imported) is resumed by the next server and
// imports the rest, nothing twice; its credentials are gone once it ends.
func TestJobResumesAfterRestart(t *testing.T) {
	ctx := context.Background()
	st, u := newStore(t)
	path := mboxOf(t, 10)
	spec, _ := ParseSpec("mbox:" + path)
	src, err := spec.Open(ctx, "", IMAPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	left := 4
	if _, err := Run(ctx, st, u, failingSource{src, &left}, Options{BatchMessages: 2, Logger: quiet}); !errors.Is(err, errDropped) {
		t.Fatal(err)
	}

	// The job as the stopped server left it: running, credentials sealed.
	keyFile := filepath.Join(t.TempDir(), "import.key")
	first := newJobs(t, ctx, st, keyFile)
	job := &mailstore.ImportJob{UserID: u.ID, Address: u.Address, Source: spec.String(), State: mailstore.ImportRunning}
	if err := st.CreateImportJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	secret, err := first.seal(jobSecret{Password: "the-secret-password"}, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(secret, []byte("the-secret-password")) {
		t.Fatal("the sealed credentials hold the password in clear")
	}
	if err := st.SetImportJobSecret(ctx, job.ID, secret); err != nil {
		t.Fatal(err)
	}

	next := newJobs(t, ctx, st, keyFile)
	if err := next.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	next.Wait()
	got, err := st.GetImportJob(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != mailstore.ImportDone || got.MessagesDone != 6 || got.MessagesSkipped != 4 || got.FoldersDone != 1 {
		t.Fatalf("resumed job: %+v", got)
	}
	if len(got.Secret) != 0 {
		t.Fatal("a finished job keeps its credentials")
	}
	if n := len(contents(t, st, u.ID)["INBOX"]); n != 10 {
		t.Fatalf("INBOX has %d messages, want 10", n)
	}
}

// TestJobCancelAndRestriction: cancelling a job stops it (here one waiting
// for a server that never answers) and drops its credentials; a user's
// job may not reach loopback.
func TestJobCancelAndRestriction(t *testing.T) {
	ctx := context.Background()
	st, u := newStore(t)
	jobs := newJobs(t, ctx, st, filepath.Join(t.TempDir(), "import.key"))
	mute, accepted := muteServer(t)
	spec, _ := ParseSpec("imap://old@" + mute.Addr().String())
	v, err := jobs.Start(ctx, JobRequest{User: u, Spec: spec, Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	conn := <-accepted // the job is connected and waits for the greeting
	defer conn.Close()
	if err := jobs.Cancel(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	jobs.Wait()
	got, _ := st.GetImportJob(ctx, v.ID)
	if got.State != mailstore.ImportCancelled || len(got.Secret) != 0 || got.FinishedAt == nil {
		t.Fatalf("cancelled job: %+v", got)
	}
	if err := jobs.Cancel(ctx, v.ID); !errors.Is(err, mailstore.ErrImportJobFinished) {
		t.Fatalf("cancel again: %v", err)
	}

	v, err = jobs.Start(ctx, JobRequest{User: u, Spec: spec, Password: "pw", Restricted: true})
	if err != nil {
		t.Fatal(err)
	}
	jobs.Wait()
	view := ViewJob(mustJob(t, st, v.ID))
	if view.State != mailstore.ImportFailed || len(view.Errors) != 1 || !strings.Contains(view.Errors[0], "not public") {
		t.Fatalf("restricted job to loopback: %+v", view)
	}
}

// muteServer listens on loopback, accepts one connection and never
// answers: a job connected to it waits for the greeting until cancelled.
func muteServer(t *testing.T) (net.Listener, <-chan net.Conn) {
	t.Helper()
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mute.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := mute.Accept(); err == nil {
			accepted <- c
		}
	}()
	return mute, accepted
}

func mustJob(t *testing.T, st *mailstore.Store, id int64) *mailstore.ImportJob {
	t.Helper()
	j, err := st.GetImportJob(ctx0, id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

var ctx0 = context.Background()

// TestJobFromDovecot runs an import job against Dovecot to its end, and
// one with a wrong password to its failure.
func TestJobFromDovecot(t *testing.T) {
	ctx := context.Background()
	dovecot := testpeer.Dovecot(t, testpeer.DovecotAccount{User: "old", Password: "old-password"})
	addr := dovecot.Addr
	old := login(t, addr, "old", "old-password")
	for i := range 3 {
		appendOld(t, old, oldMessage{"INBOX", []imap.Flag{imap.FlagSeen}, time.Date(2020, 1, i+1, 0, 0, 0, 0, time.UTC), fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i)})
	}
	appendOld(t, old, oldMessage{"Sent Items", nil, time.Date(2020, 2, 1, 0, 0, 0, 0, time.UTC), "Subject: sent\r\n\r\nbody\r\n"})
	st, u := newStore(t)
	jobs := newJobs(t, ctx, st, filepath.Join(t.TempDir(), "import.key"))
	spec, _ := ParseSpec("imap://old@" + addr)
	v, err := jobs.Start(ctx, JobRequest{User: u, Spec: spec, Password: "old-password"})
	if err != nil {
		t.Fatal(err)
	}
	jobs.Wait()
	view := ViewJob(mustJob(t, st, v.ID))
	if view.State != mailstore.ImportDone || view.MessagesDone != 4 || view.FoldersDone != view.FoldersTotal || len(view.Errors) != 0 {
		t.Fatalf("job: %+v", view)
	}
	c := contents(t, st, u.ID)
	if len(c["INBOX"]) != 3 || len(c["Sent"]) != 1 {
		t.Fatalf("imported %v", c)
	}

	v, err = jobs.Start(ctx, JobRequest{User: u, Spec: spec, Password: "wrong-password"})
	if err != nil {
		t.Fatal(err)
	}
	jobs.Wait()
	view = ViewJob(mustJob(t, st, v.ID))
	if view.State != mailstore.ImportFailed || len(view.Errors) != 1 || !strings.Contains(view.Errors[0], "log in") {
		t.Fatalf("job with a wrong password: %+v", view)
	}
}

// TestJobSurvivesShutdown: a server that stops while a job runs leaves it
// running with its sealed credentials; the next server (same key file)
// resumes it to the end. The first server's old provider never answers;
// the second one reaches Dovecot at that address.
func TestJobSurvivesShutdown(t *testing.T) {
	ctx := context.Background()
	dovecot := testpeer.Dovecot(t, testpeer.DovecotAccount{User: "old", Password: "old-password"})
	old := login(t, dovecot.Addr, "old", "old-password")
	for i := range 3 {
		appendOld(t, old, oldMessage{"INBOX", nil, time.Date(2020, 1, i+1, 0, 0, 0, 0, time.UTC), fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i)})
	}
	st, u := newStore(t)
	keyFile := filepath.Join(t.TempDir(), "import.key")

	mute, accepted := muteServer(t)
	sctx, shutdown := context.WithCancel(ctx)
	first, err := NewJobs(sctx, st, keyFile, quiet)
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := ParseSpec("imap://old@" + mute.Addr().String())
	v, err := first.Start(ctx, JobRequest{User: u, Spec: spec, Password: "old-password"})
	if err != nil {
		t.Fatal(err)
	}
	conn := <-accepted
	defer conn.Close()
	shutdown()
	first.Wait()
	if j := mustJob(t, st, v.ID); j.State != mailstore.ImportRunning || len(j.Secret) == 0 {
		t.Fatalf("job after the shutdown: %+v", j)
	}

	next := newJobs(t, ctx, st, keyFile)
	next.imap = func(bool) IMAPOptions {
		return IMAPOptions{Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, dovecot.Addr)
		}}
	}
	if err := next.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	next.Wait()
	j := mustJob(t, st, v.ID)
	if j.State != mailstore.ImportDone || j.MessagesDone != 3 || len(j.Secret) != 0 {
		t.Fatalf("resumed job: %+v", ViewJob(j))
	}
}
