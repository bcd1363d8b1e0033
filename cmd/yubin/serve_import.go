package main

import (
	"context"
	"path/filepath"

	"github.com/yubinmail/yubin/internal/importer"
)

// importJobs starts the runner of the API's import jobs and resumes those
// that were running when the server last stopped. The shutdown stops them
// (they resume on the next start); their credentials are sealed with
// DATA/import.key while they run.
func (w *wiring) importJobs() (*importer.Jobs, error) {
	ctx, cancel := context.WithCancel(context.Background())
	jobs, err := importer.NewJobs(ctx, w.store, filepath.Join(w.cfg.DataDir, "import.key"), w.log)
	if err != nil {
		cancel()
		return nil, err
	}
	if err := jobs.Resume(ctx); err != nil {
		w.log.Warn("import jobs not resumed", "err", err)
	}
	w.sup.add(server{name: "import jobs", stop: func(sctx context.Context) error {
		cancel()
		done := make(chan struct{})
		go func() { jobs.Wait(); close(done) }()
		select {
		case <-done:
			return nil
		case <-sctx.Done():
			return sctx.Err()
		}
	}})
	return jobs, nil
}
