package mailstore

import (
	"context"
	"fmt"

	"github.com/yubinmail/yubin/core"
)

// ErrJobRunning is the error of a periodic job's run skipped because
// another process on the database runs the job now (another node, or a
// CLI command): that process does the work. It wraps core.ErrConflict.
var ErrJobRunning = fmt.Errorf("another process on the database runs this job now: %w", core.ErrConflict)

// The periodic jobs that must not run in two processes at once: several
// nodes on one database would do the work twice or race each other over
// the same bodies.
const (
	jobSweepOrphans    = "sweep-orphan-bodies"
	jobReleaseExpunged = "release-expunged"
	jobSealExisting    = "seal-existing"
	jobMoveToUserKeys  = "move-to-user-keys"
)

// exclusive runs fn holding the lock of job (see db.DB.TryJobLock), or
// returns ErrJobRunning without running it if another process holds it.
func (s *Store) exclusive(ctx context.Context, job string, fn func() error) error {
	unlock, ok, err := s.dbh.TryJobLock(ctx, job)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: %w", job, ErrJobRunning)
	}
	defer unlock()
	return fn()
}
