package importer

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/mailstore"
)

// JobRequest starts an import job.
type JobRequest struct {
	User      *mailstore.User
	Spec      Spec
	Password  string
	DryRun    bool
	CreatedBy string
	// Restricted jobs may only connect to public addresses (those of
	// anyone but a server admin; see PublicOnly).
	Restricted bool
}

// JobView is an import job as the API shows it: never its credentials.
type JobView struct {
	ID              int64          `json:"id"`
	Address         string         `json:"address"`
	Source          string         `json:"source"`
	DryRun          bool           `json:"dry_run"`
	State           string         `json:"state"`
	FoldersTotal    int            `json:"folders_total"`
	FoldersDone     int            `json:"folders_done"`
	MessagesTotal   int64          `json:"messages_total"`
	MessagesDone    int64          `json:"messages_done"`
	MessagesSkipped int64          `json:"messages_skipped"`
	Folders         []FolderReport `json:"folders"`
	Errors          []string       `json:"errors"`
	CreatedBy       string         `json:"created_by"`
	CreatedAt       time.Time      `json:"created_at"`
	UpdatedAt       time.Time      `json:"updated_at"`
	FinishedAt      *time.Time     `json:"finished_at,omitempty"`
}

// ViewJob returns the view of a stored job.
func ViewJob(j *mailstore.ImportJob) *JobView {
	v := &JobView{
		ID: j.ID, Address: j.Address, Source: j.Source, DryRun: j.DryRun, State: j.State,
		FoldersTotal: j.FoldersTotal, FoldersDone: j.FoldersDone, MessagesTotal: j.MessagesTotal,
		MessagesDone: j.MessagesDone, MessagesSkipped: j.MessagesSkipped, CreatedBy: j.CreatedBy,
		CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, FinishedAt: j.FinishedAt,
		Folders: []FolderReport{}, Errors: []string{},
	}
	if j.Folders != "" {
		_ = json.Unmarshal([]byte(j.Folders), &v.Folders)
	}
	if j.Errors != "" {
		_ = json.Unmarshal([]byte(j.Errors), &v.Errors)
	}
	return v
}

// PublicOnly returns IMAP options that refuse to connect to loopback,
// private, link-local and other non-public addresses (checked on the
// address actually dialled, after DNS).
func PublicOnly() IMAPOptions {
	d := &net.Dialer{Timeout: 30 * time.Second, Control: func(network, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip := net.ParseIP(host)
		if ip == nil || !ip.IsGlobalUnicast() || ip.IsPrivate() {
			return fmt.Errorf("address %s is not public: only server admins may import from it: %w", host, core.ErrForbidden)
		}
		return nil
	}}
	return IMAPOptions{Dial: d.DialContext}
}

// maxJobErrors caps the errors a job keeps.
const maxJobErrors = 20

// jobSecret is what a job keeps, sealed, while it may run.
type jobSecret struct {
	Password   string `json:"password"`
	Restricted bool   `json:"restricted"`
}

// Jobs runs the server's import jobs, one goroutine each, and resumes
// the unfinished ones when the server starts again.
type Jobs struct {
	store *mailstore.Store
	aead  cipher.AEAD
	log   *slog.Logger
	base  context.Context

	mu      sync.Mutex
	running map[int64]context.CancelFunc
	wg      sync.WaitGroup
	// dial overrides the IMAP options (tests).
	imap func(restricted bool) IMAPOptions
}

// NewJobs returns the job runner of store. Credentials of running jobs are
// sealed with the key in keyFile (created, 32 random bytes, on first use);
// jobs run until ctx ends (the server stops) and resume on the next start.
func NewJobs(ctx context.Context, store *mailstore.Store, keyFile string, log *slog.Logger) (*Jobs, error) {
	key, err := loadJobKey(keyFile)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &Jobs{store: store, aead: aead, log: log.With("component", "import"), base: ctx, running: map[int64]context.CancelFunc{},
		imap: func(restricted bool) IMAPOptions {
			if restricted {
				return PublicOnly()
			}
			return IMAPOptions{}
		}}, nil
}

func loadJobKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err == nil {
		if len(key) != 32 {
			return nil, fmt.Errorf("import key %s: %d bytes, want 32", path, len(key))
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("import key: %w", err)
	}
	key = make([]byte, 32)
	rand.Read(key)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("import key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return loadJobKey(path) // another process made it
	}
	if err != nil {
		return nil, fmt.Errorf("import key: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, fmt.Errorf("import key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("import key: %w", err)
	}
	return key, f.Close()
}

func (j *Jobs) seal(s jobSecret, id int64) ([]byte, error) {
	plain, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, j.aead.NonceSize())
	rand.Read(nonce)
	return j.aead.Seal(nonce, nonce, plain, []byte("yubin-import "+strconv.FormatInt(id, 10))), nil
}

func (j *Jobs) open(sealed []byte, id int64) (jobSecret, error) {
	var s jobSecret
	n := j.aead.NonceSize()
	if len(sealed) < n {
		return s, errors.New("no credentials kept")
	}
	plain, err := j.aead.Open(nil, sealed[:n], sealed[n:], []byte("yubin-import "+strconv.FormatInt(id, 10)))
	if err != nil {
		return s, fmt.Errorf("credentials unreadable (the import key changed?): %w", err)
	}
	err = json.Unmarshal(plain, &s)
	return s, err
}

// Start records a job and starts running it.
func (j *Jobs) Start(ctx context.Context, req JobRequest) (*JobView, error) {
	job := &mailstore.ImportJob{
		UserID: req.User.ID, Address: req.User.Address, Source: req.Spec.String(), DryRun: req.DryRun,
		State: mailstore.ImportQueued, CreatedBy: req.CreatedBy,
	}
	if err := j.store.CreateImportJob(ctx, job); err != nil {
		return nil, err
	}
	secret, err := j.seal(jobSecret{Password: req.Password, Restricted: req.Restricted}, job.ID)
	if err != nil {
		return nil, err
	}
	if err := j.store.SetImportJobSecret(ctx, job.ID, secret); err != nil {
		return nil, err
	}
	j.launch(job.ID)
	got, err := j.store.GetImportJob(ctx, job.ID)
	if err != nil {
		return nil, err
	}
	return ViewJob(got), nil
}

// Resume starts the jobs that were queued or running when the server
// stopped.
func (j *Jobs) Resume(ctx context.Context) error {
	js, err := j.store.UnfinishedImportJobs(ctx)
	if err != nil {
		return err
	}
	for _, job := range js {
		j.log.Info("resuming import job", "job", job.ID, "user", job.Address, "source", job.Source)
		j.launch(job.ID)
	}
	return nil
}

// Cancel stops a job; what it imported stays.
func (j *Jobs) Cancel(ctx context.Context, id int64) error {
	if err := j.store.CancelImportJob(ctx, id); err != nil {
		return err
	}
	j.mu.Lock()
	cancel := j.running[id]
	j.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	return nil
}

// Wait waits until no job runs (after the server's context ended, or in
// tests).
func (j *Jobs) Wait() { j.wg.Wait() }

func (j *Jobs) launch(id int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.running[id]; ok {
		return
	}
	ctx, cancel := context.WithCancel(j.base)
	j.running[id] = cancel
	j.wg.Add(1)
	go func() {
		defer j.wg.Done()
		defer func() {
			j.mu.Lock()
			delete(j.running, id)
			j.mu.Unlock()
			cancel()
		}()
		j.run(ctx, id)
	}()
}

// run runs one job to its end, saving its progress after every batch.
func (j *Jobs) run(ctx context.Context, id int64) {
	job, err := j.store.GetImportJob(ctx, id)
	if err != nil {
		j.log.Warn("import job", "job", id, "err", err)
		return
	}
	if job.Finished() {
		return
	}
	fail := func(err error) {
		job.State = mailstore.ImportFailed
		job.Errors = appendJobError(job.Errors, err)
		if serr := j.store.SaveImportProgress(context.WithoutCancel(ctx), job); serr != nil && !errors.Is(serr, mailstore.ErrImportJobFinished) {
			j.log.Warn("save import job", "job", id, "err", serr)
		}
		j.log.Warn("import job failed", "job", id, "user", job.Address, "source", job.Source, "err", err)
	}
	secret, err := j.open(job.Secret, id)
	if err != nil {
		fail(err)
		return
	}
	user, err := j.store.GetUserByID(ctx, job.UserID)
	if err != nil {
		fail(err)
		return
	}
	spec, err := ParseSpec(job.Source)
	if err != nil {
		fail(err)
		return
	}
	job.State = mailstore.ImportRunning
	if err := j.store.SaveImportProgress(ctx, job); err != nil {
		return // cancelled meanwhile
	}
	src, err := spec.Open(ctx, secret.Password, j.imap(secret.Restricted))
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		fail(err)
		return
	}
	defer src.Close()
	progress := func(r *Report) {
		j.record(job, r)
		// Cancelled, or the user (and with them the job) deleted: stop.
		if err := j.store.SaveImportProgress(ctx, job); errors.Is(err, mailstore.ErrImportJobFinished) || errors.Is(err, core.ErrNotFound) {
			j.mu.Lock()
			if c := j.running[id]; c != nil {
				c()
			}
			j.mu.Unlock()
		}
	}
	rep, err := Run(ctx, j.store, user, src, Options{DryRun: job.DryRun, Progress: progress, Logger: j.log})
	j.record(job, rep)
	switch {
	case ctx.Err() != nil:
		// Cancelled (the store says so already) or the server stops: the
		// job stays running and resumes on the next start.
		if j.base.Err() != nil {
			_ = j.store.SaveImportProgress(context.WithoutCancel(ctx), job)
		}
	case err != nil:
		fail(err)
	default:
		job.State = mailstore.ImportDone
		if err := j.store.SaveImportProgress(ctx, job); err != nil && !errors.Is(err, mailstore.ErrImportJobFinished) {
			j.log.Warn("save import job", "job", id, "err", err)
		}
		j.log.Info("import job done", "job", id, "user", job.Address, "source", job.Source, "imported", job.MessagesDone, "skipped", job.MessagesSkipped)
	}
}

// record copies a report's counts into the job.
func (j *Jobs) record(job *mailstore.ImportJob, r *Report) {
	if r == nil {
		return
	}
	job.FoldersTotal = len(r.Folders)
	var imported, skipped, total int64
	job.FoldersDone, imported, skipped, total = r.Totals()
	job.MessagesDone, job.MessagesSkipped, job.MessagesTotal = imported, skipped, total
	if b, err := json.Marshal(r.Folders); err == nil {
		job.Folders = string(b)
	}
}

func appendJobError(stored string, err error) string {
	var errs []string
	if stored != "" {
		_ = json.Unmarshal([]byte(stored), &errs)
	}
	errs = append(errs, err.Error())
	if len(errs) > maxJobErrors {
		errs = errs[len(errs)-maxJobErrors:]
	}
	b, _ := json.Marshal(errs)
	return string(b)
}
