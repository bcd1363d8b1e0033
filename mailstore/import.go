package mailstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/yubinmail/yubin/core"
)

// importMark records that one message of an import source is in the
// store: the importer (internal/importer) skips marked messages when an
// import runs again, so an interrupted import resumes without copying
// anything twice. Marks are written in the transaction that adds the
// messages (AppendBatch.CommitImport).
type importMark struct {
	ID     int64 `gorm:"primaryKey"`
	UserID int64 `gorm:"not null;uniqueIndex:idx_import_mark,priority:1"`
	// Scope is the SHA-256 of the source and the source's folder (see
	// importScope): one set of marks per folder of a source.
	Scope string `gorm:"size:64;not null;uniqueIndex:idx_import_mark,priority:2"`
	// Item names the message within the folder, as the source does (an
	// IMAP "UIDVALIDITY:UID", a maildir file's unique name, an mbox
	// message's content hash).
	Item string `gorm:"size:300;not null;uniqueIndex:idx_import_mark,priority:3"`
}

func (importMark) TableName() string { return "import_marks" }

// ImportJob is an import of a user's existing mail run by the server (the
// REST API's import jobs), with its progress. Its credentials are kept,
// sealed, only while it may still run.
type ImportJob struct {
	ID      int64  `gorm:"primaryKey"`
	UserID  int64  `gorm:"not null;index"`
	Address string `gorm:"size:320;not null"`
	// Source is where the mail comes from, without its password.
	Source string `gorm:"size:1000;not null"`
	DryRun bool   `gorm:"not null;default:false"`
	// State is one of the ImportState values.
	State string `gorm:"size:20;not null;index"`
	// Secret holds the sealed credentials while the job is queued or
	// running; it is emptied when the job ends.
	Secret []byte

	FoldersTotal    int   `gorm:"not null;default:0"`
	FoldersDone     int   `gorm:"not null;default:0"`
	MessagesTotal   int64 `gorm:"not null;default:0"`
	MessagesDone    int64 `gorm:"not null;default:0"`
	MessagesSkipped int64 `gorm:"not null;default:0"`
	// Folders is the JSON of the per-folder counts (the importer's).
	Folders string `gorm:"type:text;not null;default:''"`
	// Errors is the JSON of the errors met, the last ones first dropped.
	Errors string `gorm:"type:text;not null;default:''"`

	CreatedBy  string `gorm:"size:320;not null;default:''"`
	CreatedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt *time.Time
}

// The states of an ImportJob.
const (
	ImportQueued    = "queued"
	ImportRunning   = "running"
	ImportDone      = "done"
	ImportFailed    = "failed"
	ImportCancelled = "cancelled"
)

// Finished reports whether the job has ended (and will not run again).
func (j *ImportJob) Finished() bool {
	return j.State == ImportDone || j.State == ImportFailed || j.State == ImportCancelled
}

func importModels() []any { return []any{&importMark{}, &ImportJob{}} }

// importScope names a folder of an import source in the marks.
func importScope(source, folder string) string {
	sum := sha256.Sum256([]byte(source + "\x00" + folder))
	return hex.EncodeToString(sum[:])
}

// ImportedItems returns the items of a source's folder that an import
// already brought into the user's mailstore (see AppendBatch.CommitImport).
func (s *Store) ImportedItems(ctx context.Context, userID int64, source, folder string) (map[string]bool, error) {
	var items []string
	err := s.db.WithContext(ctx).Model(&importMark{}).Where("user_id = ? AND scope = ?", userID, importScope(source, folder)).
		Pluck("item", &items).Error
	if err != nil {
		return nil, fmt.Errorf("imported messages of %s: %w", folder, err)
	}
	done := make(map[string]bool, len(items))
	for _, it := range items {
		done[it] = true
	}
	return done, nil
}

// CommitImport is Commit for an import: in the same transaction it marks
// each added message (items[i] names the i-th one Add stored) as imported
// from source's folder, so that a crash loses either both or neither.
// Like Commit it checks the quota and adds all the messages or none.
func (b *AppendBatch) CommitImport(ctx context.Context, source, folder string, items []string) ([]AppendResult, error) {
	if len(items) != len(b.rows) {
		b.Abort(ctx)
		return nil, fmt.Errorf("import into %q: %d marks for %d messages", b.name, len(items), len(b.rows))
	}
	scope := importScope(source, folder)
	return b.commit(ctx, func(tx *writeTx) error {
		marks := make([]importMark, len(items))
		for i, it := range items {
			marks[i] = importMark{UserID: b.userID, Scope: scope, Item: it}
		}
		if err := tx.CreateInBatches(marks, 200).Error; err != nil {
			return fmt.Errorf("mark imported messages: %w", uniqueToExists(err))
		}
		return nil
	})
}

// Len is the number of messages added to the batch and not yet committed.
func (b *AppendBatch) Len() int { return len(b.rows) }

// CreateImportJob records a new import job.
func (s *Store) CreateImportJob(ctx context.Context, j *ImportJob) error {
	j.ID = 0
	return s.write(ctx, func(tx *writeTx) error {
		j.ID = 0
		if err := tx.Create(j).Error; err != nil {
			return fmt.Errorf("create import job: %w", err)
		}
		return tx.audit("import.start", j.Address, map[string]any{"source": j.Source, "dry_run": j.DryRun, "job": j.ID})
	})
}

// GetImportJob returns an import job by its ID.
func (s *Store) GetImportJob(ctx context.Context, id int64) (*ImportJob, error) {
	var j ImportJob
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&j).Error; err != nil {
		return nil, fmt.Errorf("import job %d: %w", id, notFound(err))
	}
	return &j, nil
}

// ListImportJobs returns a user's import jobs, the newest first.
func (s *Store) ListImportJobs(ctx context.Context, userID int64) ([]ImportJob, error) {
	var js []ImportJob
	if err := s.db.WithContext(ctx).Where("user_id = ?", userID).Order("id DESC").Find(&js).Error; err != nil {
		return nil, fmt.Errorf("list import jobs: %w", err)
	}
	return js, nil
}

// UnfinishedImportJobs returns the jobs that are queued or were running
// (when the server stopped), the oldest first.
func (s *Store) UnfinishedImportJobs(ctx context.Context) ([]ImportJob, error) {
	var js []ImportJob
	if err := s.db.WithContext(ctx).Where("state IN ?", []string{ImportQueued, ImportRunning}).Order("id").Find(&js).Error; err != nil {
		return nil, fmt.Errorf("list unfinished import jobs: %w", err)
	}
	return js, nil
}

// ErrImportJobFinished is the error of changing a job that has ended.
var ErrImportJobFinished = fmt.Errorf("the import job has ended: %w", core.ErrConflict)

// SaveImportProgress stores a job's state and counts (not its owner,
// source or secret). A finished job's secret is removed. A job that ended
// meanwhile (cancelled) is left as it is and ErrImportJobFinished returned.
func (s *Store) SaveImportProgress(ctx context.Context, j *ImportJob) error {
	return s.write(ctx, func(tx *writeTx) error {
		var cur ImportJob
		if err := tx.Select("id", "state").Where("id = ?", j.ID).Take(&cur).Error; err != nil {
			return fmt.Errorf("import job %d: %w", j.ID, notFound(err))
		}
		if cur.Finished() {
			return ErrImportJobFinished
		}
		upd := map[string]any{
			"state": j.State, "folders_total": j.FoldersTotal, "folders_done": j.FoldersDone,
			"messages_total": j.MessagesTotal, "messages_done": j.MessagesDone, "messages_skipped": j.MessagesSkipped,
			"folders": j.Folders, "errors": j.Errors, "updated_at": time.Now().UTC(),
		}
		if j.Finished() {
			now := time.Now().UTC()
			j.FinishedAt = &now
			j.Secret = nil
			upd["finished_at"] = now
			upd["secret"] = nil
		}
		return tx.Model(&ImportJob{}).Where("id = ?", j.ID).Updates(upd).Error
	})
}

// CancelImportJob marks a queued or running job cancelled and drops its
// secret; the runner notices and stops. Cancelling an ended job returns
// ErrImportJobFinished.
func (s *Store) CancelImportJob(ctx context.Context, id int64) error {
	err := s.write(ctx, func(tx *writeTx) error {
		var cur ImportJob
		if err := tx.Select("id", "state", "address", "source").Where("id = ?", id).Take(&cur).Error; err != nil {
			return fmt.Errorf("import job %d: %w", id, notFound(err))
		}
		if cur.Finished() {
			return ErrImportJobFinished
		}
		now := time.Now().UTC()
		err := tx.Model(&ImportJob{}).Where("id = ?", id).Updates(map[string]any{
			"state": ImportCancelled, "secret": nil, "finished_at": now, "updated_at": now,
		}).Error
		if err != nil {
			return err
		}
		return tx.audit("import.cancel", cur.Address, map[string]any{"source": cur.Source, "job": id})
	})
	if err != nil && !errors.Is(err, core.ErrConflict) && !errors.Is(err, core.ErrNotFound) {
		return fmt.Errorf("cancel import job %d: %w", id, err)
	}
	return err
}

// SetImportJobSecret stores the sealed credentials of a job that has not
// ended.
func (s *Store) SetImportJobSecret(ctx context.Context, id int64, secret []byte) error {
	return s.write(ctx, func(tx *writeTx) error {
		res := tx.Model(&ImportJob{}).Where("id = ? AND state IN ?", id, []string{ImportQueued, ImportRunning}).Update("secret", secret)
		if res.Error != nil {
			return fmt.Errorf("import job %d: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrImportJobFinished
		}
		return nil
	})
}

// deleteUserImportsTx removes the import jobs (with any sealed
// credentials they still hold) and the import marks of a user being
// deleted. A job still running finds its row gone at its next progress
// report and stops.
func deleteUserImportsTx(tx *writeTx, userID int64) error {
	if err := tx.Where("user_id = ?", userID).Delete(&ImportJob{}).Error; err != nil {
		return fmt.Errorf("delete import jobs: %w", err)
	}
	if err := tx.Where("user_id = ?", userID).Delete(&importMark{}).Error; err != nil {
		return fmt.Errorf("delete import marks: %w", err)
	}
	return nil
}
