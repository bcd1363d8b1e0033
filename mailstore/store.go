package mailstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/yubinmail/yubin/internal/db"
	"github.com/yubinmail/yubin/mailstore/blobcrypt"
)

// Options configures a Store.
type Options struct {
	// Dir is the data folder; the database is Dir/yubin.db unless
	// Database is set, and bodies live in Dir/blobs unless BlobDir or
	// Blobs is set.
	Dir string
	// Database names the database (see db.Open): "" for SQLite at
	// Dir/yubin.db, a postgres:// URL for PostgreSQL (which several
	// processes, on several machines, may share).
	Database string
	// BlobDir is the folder of the body files when it is not Dir/blobs
	// (a folder several nodes share); bodies kept inline stay in the
	// database.
	BlobDir string
	// Logger receives the store's logs; nil means slog.Default().
	Logger *slog.Logger
	// Notifier receives every committed change; nil means a LocalNotifier.
	Notifier Notifier
	// Blobs overrides the body store.
	Blobs BlobStore
	// Sealer, if set, encrypts the bodies of the default blob folder at
	// rest (see package blobcrypt); it is ignored for bodies when Blobs is
	// set. It also seals the authenticator secrets kept in the database.
	Sealer *blobcrypt.Sealer
	// InlineMax is the largest body kept inline in the database (see
	// DefaultInlineMax, used when it is 0); larger ones, and every body
	// when it is negative or Blobs is set, are kept by the blob store.
	InlineMax int
	// ExpungedGrace is how long the body of an expunged message stays
	// readable for sessions that still show it (RFC 2180); 0 means
	// DefaultExpungedGrace.
	ExpungedGrace time.Duration
	// MaxBatch caps how many writes share one transaction (default 256).
	MaxBatch int
	// MaxMailboxes caps the mailboxes of one user (0: no cap). Creating
	// one more fails with an error that wraps ErrTooManyMailboxes.
	MaxMailboxes int
	// EncryptionMode is the encryption mode of domains that have none of
	// their own: EncryptionServer ("" too) or EncryptionUser.
	EncryptionMode string
}

// Store is the mailstore: one per data folder.
type Store struct {
	dbh     *db.DB
	dialect db.Dialect
	db      *gorm.DB // readers
	wdb     *gorm.DB // the writer's pool
	// wconn holds the writer connection once the writer runs, and
	// wbase is a gorm handle on it that write transactions start from.
	wconn    *db.WriterConn
	wbase    *gorm.DB
	blobs    BlobStore // inline, as a BlobStore
	files    BlobStore // where bodies too large to be inline go
	inline   *tieredBlobStore
	syncer   BatchSyncer // inline, as a BatchSyncer
	notifier Notifier
	log      *slog.Logger
	auth     *authCache
	revokers credentialRevokers

	writes   chan *writeRequest
	maxBatch int
	maxBoxes int    // per user; 0: no cap
	encMode  string // the server's encryption mode (see userkeys.go)
	// secrets is the server key when encryption at rest is configured:
	// it seals small secrets kept in the database (authenticator
	// secrets, see totp.go). nil: none.
	secrets *blobcrypt.Sealer
	closeMu sync.RWMutex
	closed  bool
	done    chan struct{}
	// stopRelease stops the loop that releases expunged bodies; released
	// is done when it has.
	stopRelease chan struct{}
	stopOnce    sync.Once
	released    sync.WaitGroup

	// headerCache says whether bodies get cached headers: not with
	// encryption at rest (see headercache.go).
	headerCache bool
	// headerMem keeps cached headers listed lately (see headermem.go).
	headerMem *headerMemory
}

// Open opens (creating on first use) the mailstore in opts.Dir.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("open mailstore: no data folder given")
	}
	if err := CheckEncryptionMode(opts.EncryptionMode); err != nil {
		return nil, fmt.Errorf("open mailstore: %w", err)
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("open mailstore: create %s: %w", opts.Dir, err)
	}
	if err := CheckOwner(opts.Dir); err != nil {
		return nil, fmt.Errorf("open mailstore: %w", err)
	}
	s := &Store{
		stopRelease: make(chan struct{}),
		files:       opts.Blobs,
		notifier:    opts.Notifier,
		log:         opts.Logger,
		maxBatch:    opts.MaxBatch,
		maxBoxes:    max(opts.MaxMailboxes, 0),
		encMode:     opts.EncryptionMode,
		secrets:     opts.Sealer,
		writes:      make(chan *writeRequest, 1024),
		done:        make(chan struct{}),
		auth:        newAuthCache(10000, 10*time.Minute),
	}
	s.headerCache = opts.Sealer == nil
	s.headerMem = newHeaderMemory(headerMemoryBytes)
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.notifier == nil {
		s.notifier = NewLocalNotifier()
	}
	if s.maxBatch <= 0 {
		s.maxBatch = 256
	}
	inlineMax := int64(opts.InlineMax)
	switch {
	case opts.Blobs != nil || inlineMax < 0:
		inlineMax = 0
	case inlineMax == 0:
		inlineMax = DefaultInlineMax
	}
	var sealer *blobcrypt.Sealer
	if s.files == nil {
		dir := opts.BlobDir
		if dir == "" {
			dir = filepath.Join(opts.Dir, BlobsDir)
		}
		fb, err := NewFileBlobStore(dir, opts.Sealer)
		if err != nil {
			return nil, fmt.Errorf("open mailstore: %w", err)
		}
		s.files, sealer = fb, opts.Sealer
	}
	s.inline = newTieredBlobStore(s.files, sealer, inlineMax)
	s.blobs, s.syncer = s.inline, s.inline
	warnIfShared(opts.Dir, s.log)
	if dbPath := db.SQLitePath(opts.Database, opts.Dir); dbPath != "" {
		if err := privateFiles(dbPath); err != nil {
			return nil, fmt.Errorf("open mailstore: %w", err)
		}
	}
	var err error
	s.dbh, err = db.Open(ctx, opts.Database, opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("open mailstore: %w", err)
	}
	s.db, s.wdb, s.dialect = s.dbh.Read, s.dbh.Write, s.dbh.Dialect
	if err := s.migrate(ctx); err != nil {
		s.closeDB()
		return nil, fmt.Errorf("open mailstore: %w", err)
	}
	if err := s.migrateSubscriptions(ctx); err != nil {
		s.closeDB()
		return nil, fmt.Errorf("open mailstore: migrate subscriptions: %w", err)
	}
	if err := s.migrateObjectIDs(ctx); err != nil {
		s.closeDB()
		return nil, fmt.Errorf("open mailstore: migrate object ids: %w", err)
	}
	if err := s.migrateSaveDates(ctx); err != nil {
		s.closeDB()
		return nil, fmt.Errorf("open mailstore: migrate save dates: %w", err)
	}
	if sqlR, err := s.db.DB(); err == nil {
		err = s.inline.prepare(ctx, sqlR, s.dialect)
		if err != nil {
			s.closeDB()
			return nil, fmt.Errorf("open mailstore: %w", err)
		}
	}
	if err := s.startWriterConn(ctx); err != nil {
		s.closeDB()
		return nil, fmt.Errorf("open mailstore: %w", err)
	}
	go s.writer()
	if err := s.sealTOTPSecrets(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open mailstore: %w", err)
	}
	if !s.headerCache {
		if err := s.dropCachedHeaders(ctx); err != nil {
			s.Close()
			return nil, fmt.Errorf("open mailstore: drop cached headers: %w", err)
		}
	}
	grace := opts.ExpungedGrace
	if grace <= 0 {
		grace = DefaultExpungedGrace
	}
	// No session outlives the grace time: what is older goes at once.
	if _, err := s.ReleaseExpunged(ctx, time.Now().Add(-grace)); err != nil && !errors.Is(err, ErrJobRunning) {
		s.log.Warn("release the bodies of expunged messages", "err", err)
	}
	s.released.Add(1)
	go func() {
		defer s.released.Done()
		s.releaseLoop(grace, s.stopRelease)
	}()
	return s, nil
}

// Close stops the writer after the queued writes and closes the database.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closeMu.Unlock()
	s.stopOnce.Do(func() { close(s.stopRelease) })
	s.released.Wait()
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.writes)
	s.closeMu.Unlock()
	<-s.done
	return s.closeDB()
}

func (s *Store) closeDB() error {
	s.inline.close()
	if s.dbh == nil {
		return nil
	}
	return s.dbh.Close()
}

// Notifier returns the notifier that announces this store's changes.
func (s *Store) Notifier() Notifier { return s.notifier }

// Blobs returns the body store.
func (s *Store) Blobs() BlobStore { return s.blobs }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// CheckWritable reports whether a write can commit now: it runs an empty
// write transaction through the writer and waits for it until ctx ends. It
// fails while another process holds the database's write lock (or the
// writer is stuck behind such a lock), when writes would not get through.
func (s *Store) CheckWritable(ctx context.Context) error {
	req := &writeRequest{ctx: ctx, fn: func(*writeTx) error { return nil }, done: make(chan error, 1)}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	select {
	case s.writes <- req:
		s.closeMu.RUnlock()
	case <-ctx.Done():
		s.closeMu.RUnlock()
		return fmt.Errorf("database write check: the writer is busy: %w", ctx.Err())
	}
	select {
	case err := <-req.done:
		if err != nil {
			return fmt.Errorf("database write check: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("database write check: no write could commit (the database is locked?): %w", ctx.Err())
	}
}

type originKey struct{}

// WithOrigin tags the writes made with ctx, so that the Events they cause
// carry origin (an IMAP session uses it to recognise its own changes).
func WithOrigin(ctx context.Context, origin string) context.Context {
	return context.WithValue(ctx, originKey{}, origin)
}

func originOf(ctx context.Context) string {
	o, _ := ctx.Value(originKey{}).(string)
	return o
}

// ErrClosed is returned for writes submitted after Close.
var ErrClosed = errors.New("mailstore closed")
