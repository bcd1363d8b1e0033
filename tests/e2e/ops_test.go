package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestFreshFolderServeAndCLI starts `yubin serve` and several `yubin domain
// add` commands at the same moment on a data folder that does not exist
// yet: the server must start and every command succeed (issue 13: the
// schema, the counters and the blob shards used to be created by whoever
// came first, and the others failed).
func TestFreshFolderServeAndCLI(t *testing.T) {
	t.Parallel()
	for round := range 2 {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("data%d", round))
		srv := newServer(t, dir)
		var wg sync.WaitGroup
		results := make([]cliResult, 4)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = runCLI(t, "", nil, "domain", "add", fmt.Sprintf("d%d.example", i), "--data="+dir)
			}()
		}
		srv.startNoWait()
		wg.Wait()
		srv.waitReady()
		for i, r := range results {
			if r.code != 0 || !strings.Contains(r.stdout, "added domain") {
				t.Errorf("round %d: domain add d%d.example: exit %d\n%s%s", round, i, r.code, r.stdout, r.stderr)
			}
		}
		srv.stop()
	}
}
