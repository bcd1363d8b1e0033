package service

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/filters/spam"
)

// MaxTrainBytes bounds a message given to TrainSpam.
const MaxTrainBytes = 10 << 20

// mayTrain reports whether the actor may train the spam filter and see its
// statistics: server and domain admins. The classifier is shared by the
// whole server.
func (a Actor) mayTrain() bool { return a.IsAdmin() || a.Role == RoleDomainAdmin }

// TrainSpam teaches the server's Bayesian spam classifier that the raw
// message is spam (or ham). raw is read up to MaxTrainBytes; a longer
// message is refused with core.ErrTooLarge.
func (s *Service) TrainSpam(ctx context.Context, a Actor, raw io.Reader, isSpam bool) error {
	if !a.mayTrain() {
		return forbidden("training the spam filter")
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
	return spam.NewClassifier(s.store.BayesTokens()).Train(ctx, bytes.NewReader(data), isSpam)
}

// SpamStats counts what the Bayesian classifier was trained on.
type SpamStats struct {
	SpamMessages int64
	HamMessages  int64
}

// SpamStats returns the classifier's training totals.
func (s *Service) SpamStats(ctx context.Context, a Actor) (*SpamStats, error) {
	if !a.mayTrain() {
		return nil, forbidden("the spam filter's statistics")
	}
	sp, ham, err := s.store.BayesTokens().Totals(ctx)
	if err != nil {
		return nil, err
	}
	return &SpamStats{SpamMessages: sp, HamMessages: ham}, nil
}
