package service

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/filters/spam"
)

// MaxTrainBytes bounds a message given to TrainSpam.
const MaxTrainBytes = 10 << 20

// trainingScope returns the Bayes training scope the actor trains and
// reads for domain ("" for none given): server admins the server's (or
// the domain's they name), domain admins one of their domains (the only
// one when they name none), never the server's; users none (their Junk
// moves train their own scope).
func (a Actor) trainingScope(domain string) (string, error) {
	domain = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(domain), "."))
	switch {
	case a.IsAdmin() && domain == "":
		return spam.ServerScope, nil
	case a.IsAdmin():
		return spam.DomainScope(domain), nil
	case a.Role != RoleDomainAdmin:
		return "", forbidden("training the spam filter")
	case domain == "" && len(a.Domains) == 1:
		return spam.DomainScope(a.Domains[0]), nil
	case domain == "":
		return "", core.Invalid("domain", "name the domain whose classifier to train")
	case !a.ManagesDomain(domain):
		return "", forbidden("training the spam filter of " + domain)
	}
	return spam.DomainScope(domain), nil
}

// SpamClassifier is the spam filter's Bayesian classifier as the service
// trains it (spam.Classifier on the filter's token store).
type SpamClassifier interface {
	// TrainIn learns a raw message as spam or ham in a training scope.
	TrainIn(ctx context.Context, scope string, raw io.Reader, isSpam bool) error
	// Totals returns the numbers of messages trained in a scope.
	Totals(ctx context.Context, scope string) (nSpam, nHam int64, err error)
}

// WithSpamClassifier gives the service the classifier that TrainSpam
// trains; without one, training is refused.
func (s *Service) WithSpamClassifier(c SpamClassifier) *Service {
	s.spam = c
	return s
}

// classifier returns the spam classifier, or an error without one.
func (s *Service) classifier() (SpamClassifier, error) {
	if s.spam == nil {
		return nil, fmt.Errorf("the spam filter's training is not available here: %w", core.ErrConflict)
	}
	return s.spam, nil
}

// TrainSpam teaches the Bayesian spam classifier that the raw message is
// spam (or ham): the server-wide classifier for a server admin who names
// no domain, else the classifier of domain, which judges mail for that
// domain only (domain admins: one of theirs). A message trained as the
// other before is moved over. raw is read up to MaxTrainBytes; a longer
// message is refused with core.ErrTooLarge.
func (s *Service) TrainSpam(ctx context.Context, a Actor, raw io.Reader, isSpam bool, domain string) error {
	scope, err := a.trainingScope(domain)
	if err != nil {
		return err
	}
	if _, err := a.write(ctx); err != nil {
		return err
	}
	data, err := io.ReadAll(io.LimitReader(raw, MaxTrainBytes+1))
	if err != nil {
		return fmt.Errorf("read the message: %w", err)
	}
	if len(data) > MaxTrainBytes {
		return fmt.Errorf("the message exceeds %d bytes: %w", MaxTrainBytes, core.ErrTooLarge)
	}
	if len(data) == 0 {
		return core.Invalid("message", "the message is empty")
	}
	c, err := s.classifier()
	if err != nil {
		return err
	}
	return c.TrainIn(ctx, scope, bytes.NewReader(data), isSpam)
}

// SpamStats counts what the Bayesian classifier was trained on.
type SpamStats struct {
	SpamMessages int64
	HamMessages  int64
}

// SpamStats returns the training totals of the classifier TrainSpam
// trains for the same actor and domain.
func (s *Service) SpamStats(ctx context.Context, a Actor, domain string) (*SpamStats, error) {
	scope, err := a.trainingScope(domain)
	if err != nil {
		return nil, err
	}
	c, err := s.classifier()
	if err != nil {
		return nil, err
	}
	sp, ham, err := c.Totals(ctx, scope)
	if err != nil {
		return nil, err
	}
	return &SpamStats{SpamMessages: sp, HamMessages: ham}, nil
}
