package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/importer"
	"github.com/yubinmail/yubin/mailstore"
)

// ImportRequest asks for a user's existing mail to be brought in.
type ImportRequest struct {
	// Source is maildir:PATH, mbox:PATH, imap://USER@HOST:PORT or
	// imaps://USER@HOST:PORT (see importer.ParseSpec).
	Source string
	// Password is the IMAP account's; never stored in clear, never shown.
	Password string
	DryRun   bool
}

// WithImports lets the service run import jobs (the REST API's); without
// it StartImport answers that the server runs none.
func (s *Service) WithImports(j *importer.Jobs) *Service {
	s.imports = j
	return s
}

// mayImportFor reports whether the actor may import mail for u and see
// their imports: u themselves (whatever else they manage), or who manages
// u's domain.
func (a Actor) mayImportFor(u *mailstore.User) bool {
	return a.ManagesDomain(domainOf(u.Address)) || a.UserID != 0 && a.UserID == u.ID
}

// checkImport resolves the user an import is for and checks that the actor
// may import for them: the user themselves, or who manages their domain.
// Files on the server (maildir:, mbox:) are for server admins only (they
// could name any file the server may read), and so are IMAP servers on
// loopback or private addresses (checked when connecting).
func (s *Service) checkImport(ctx context.Context, a Actor, address string, req ImportRequest) (*mailstore.User, importer.Spec, error) {
	u, err := s.store.GetUser(ctx, address)
	if errors.Is(err, core.ErrInvalid) {
		return nil, importer.Spec{}, fmt.Errorf("user %q: %w", address, core.ErrNotFound)
	}
	if err != nil {
		return nil, importer.Spec{}, err
	}
	if !a.mayImportFor(u) {
		return nil, importer.Spec{}, forbidden("importing mail for " + u.Address)
	}
	if a.ReadOnly && !req.DryRun {
		return nil, importer.Spec{}, forbidden("this token is read-only; importing")
	}
	spec, err := importer.ParseSpec(req.Source)
	if err != nil {
		return nil, importer.Spec{}, err
	}
	if spec.IsLocal() && !a.IsAdmin() {
		return nil, importer.Spec{}, forbidden("importing from files on the server (only server admins may)")
	}
	if !spec.IsLocal() && req.Password == "" {
		return nil, importer.Spec{}, core.Invalid("password", "the IMAP account's password is needed")
	}
	return u, spec, nil
}

// imapOptions are the connection options of an actor's IMAP import:
// anyone but a server admin may only reach public addresses.
func imapOptions(a Actor) importer.IMAPOptions {
	if a.IsAdmin() {
		return importer.IMAPOptions{}
	}
	return importer.PublicOnly()
}

// RunImport runs an import now and returns what it did (the CLI's yubin
// import); progress, if set, gets the report after every batch.
func (s *Service) RunImport(ctx context.Context, a Actor, address string, req ImportRequest, progress func(*importer.Report)) (*importer.Report, error) {
	u, spec, err := s.checkImport(ctx, a, address, req)
	if err != nil {
		return nil, err
	}
	if !req.DryRun {
		if ctx, err = a.write(ctx); err != nil {
			return nil, err
		}
	}
	src, err := spec.Open(ctx, req.Password, imapOptions(a))
	if err != nil {
		return nil, err
	}
	defer src.Close()
	return importer.Run(ctx, s.store, u, src, importer.Options{DryRun: req.DryRun, Progress: progress, Logger: s.log})
}

// StartImport starts an import job run by the server; GetImport follows it.
func (s *Service) StartImport(ctx context.Context, a Actor, address string, req ImportRequest) (*importer.JobView, error) {
	u, spec, err := s.checkImport(ctx, a, address, req)
	if err != nil {
		return nil, err
	}
	if s.imports == nil {
		return nil, fmt.Errorf("this server runs no import jobs: %w", core.ErrConflict)
	}
	if !req.DryRun {
		if ctx, err = a.write(ctx); err != nil {
			return nil, err
		}
	}
	return s.imports.Start(ctx, importer.JobRequest{
		User: u, Spec: spec, Password: req.Password, DryRun: req.DryRun,
		CreatedBy: a.Email, Restricted: !a.IsAdmin(),
	})
}

// importJob returns a job of the user at address if the actor may see it.
func (s *Service) importJob(ctx context.Context, a Actor, address string, id int64) (*mailstore.ImportJob, error) {
	u, err := s.store.GetUser(ctx, address)
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", address, core.ErrNotFound)
	}
	if !a.mayImportFor(u) {
		return nil, forbidden("the imports of " + u.Address)
	}
	j, err := s.store.GetImportJob(ctx, id)
	if err != nil {
		return nil, err
	}
	if j.UserID != u.ID {
		return nil, fmt.Errorf("import job %d: %w", id, core.ErrNotFound)
	}
	return j, nil
}

// GetImport returns an import job with its progress.
func (s *Service) GetImport(ctx context.Context, a Actor, address string, id int64) (*importer.JobView, error) {
	j, err := s.importJob(ctx, a, address, id)
	if err != nil {
		return nil, err
	}
	return importer.ViewJob(j), nil
}

// ListImports returns the user's import jobs, the newest first.
func (s *Service) ListImports(ctx context.Context, a Actor, address string) ([]importer.JobView, error) {
	u, err := s.store.GetUser(ctx, address)
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", address, core.ErrNotFound)
	}
	if !a.mayImportFor(u) {
		return nil, forbidden("the imports of " + u.Address)
	}
	js, err := s.store.ListImportJobs(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	out := make([]importer.JobView, 0, len(js))
	for i := range js {
		out = append(out, *importer.ViewJob(&js[i]))
	}
	return out, nil
}

// CancelImport stops a queued or running import job; what it imported
// stays, and a new import of the same source continues from there.
func (s *Service) CancelImport(ctx context.Context, a Actor, address string, id int64) (*importer.JobView, error) {
	j, err := s.importJob(ctx, a, address, id)
	if err != nil {
		return nil, err
	}
	if ctx, err = a.write(ctx); err != nil {
		return nil, err
	}
	if s.imports != nil {
		err = s.imports.Cancel(ctx, j.ID)
	} else {
		err = s.store.CancelImportJob(ctx, j.ID)
	}
	if err != nil {
		return nil, err
	}
	return s.GetImport(ctx, a, address, id)
}
