package mailstore

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/yubinmail/yubin/internal/testdb"
)

// openHelperEnv names the data folder TestOpenHelperProcess opens when it
// runs as a child of TestOpenFreshFolderManyProcesses.
const openHelperEnv = "YUBIN_TEST_OPEN_DIR"

// openHelperDatabaseEnv names the database it opens ("" for SQLite).
const openHelperDatabaseEnv = "YUBIN_TEST_OPEN_DATABASE"

// TestOpenHelperProcess is not a test: run by TestOpenFreshFolderManyProcesses
// as a separate process, it opens the data folder, writes to it and exits.
func TestOpenHelperProcess(t *testing.T) {
	dir := os.Getenv(openHelperEnv)
	if dir == "" {
		t.Skip("runs only as a child process of TestOpenFreshFolderManyProcesses")
	}
	if err := openAndUse(dir, os.Getenv(openHelperDatabaseEnv), os.Getpid()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
}

// openAndUse opens the store in dir as a CLI command or a starting server
// does, creates a domain named after n and takes a UIDVALIDITY value.
func openAndUse(dir, database string, n int) error {
	ctx := context.Background()
	s, err := Open(ctx, Options{Dir: dir, Database: database})
	if err != nil {
		return err
	}
	defer s.Close()
	dom := fmt.Sprintf("d%d.example", n)
	if _, err := s.CreateDomain(ctx, dom); err != nil {
		return fmt.Errorf("create domain: %w", err)
	}
	err = s.write(ctx, func(tx *writeTx) error {
		_, err := nextUIDValidity(tx)
		return err
	})
	if err != nil {
		return fmt.Errorf("next UIDVALIDITY: %w", err)
	}
	return nil
}

// TestOpenFreshFolderManyProcesses starts several processes (and
// goroutines in each) that open one new data folder at the same moment, as
// `yubin serve` and CLI commands started together do: every one must
// succeed (schema, counters and blob shards are created exactly once).
func TestOpenFreshFolderManyProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	t.Parallel()
	for round := range 2 {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("data%d", round))
		database := testdb.DSN(t)
		const procs = 6
		var wg sync.WaitGroup
		errs := make(chan error, 2*procs)
		for i := range procs {
			wg.Add(2)
			go func() {
				defer wg.Done()
				cmd := exec.Command(os.Args[0], "-test.run=^TestOpenHelperProcess$", "-test.count=1")
				cmd.Env = append(os.Environ(), openHelperEnv+"="+dir, openHelperDatabaseEnv+"="+database)
				if out, err := cmd.CombinedOutput(); err != nil {
					errs <- fmt.Errorf("process %d: %v\n%s", i, err, out)
				}
			}()
			go func() {
				defer wg.Done()
				if err := openAndUse(dir, database, 1000+i); err != nil {
					errs <- fmt.Errorf("goroutine %d: %w", i, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("round %d: %v", round, err)
		}
		// Everything is there once: the domains of all, one UIDVALIDITY
		// counter.
		s, err := Open(context.Background(), Options{Dir: dir, Database: database})
		if err != nil {
			t.Fatal(err)
		}
		ds, err := s.ListDomains(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 2*procs {
			t.Errorf("round %d: %d domains, want %d", round, len(ds), 2*procs)
		}
		var n int64
		if err := s.db.Model(&counter{}).Where("name = ?", "uidvalidity").Count(&n).Error; err != nil || n != 1 {
			t.Errorf("round %d: %d uidvalidity counters (%v), want 1", round, n, err)
		}
		s.Close()
	}
}
