package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/yubinmail/yubin/filters/spam"
	"github.com/yubinmail/yubin/imapserver"
	"github.com/yubinmail/yubin/mailstore"
)

// startIMAP starts the IMAP server on the plain (STARTTLS) and
// implicit-TLS listeners that are configured.
func (w *wiring) startIMAP() {
	b1, b2, ok := w.pair("imap", "imaps")
	if !ok {
		return
	}
	appendLimit := uint32(imapserver.DefaultAppendLimit)
	if m := w.cfg.MaxMessageSize; m > 0 && m < int64(^uint32(0)) {
		appendLimit = uint32(m)
	}
	classifier, err := w.spamClassifier()
	if err != nil {
		// serve opened it before: not reached there.
		w.log.Error("the Bayes token counts cannot be opened: Junk moves are not trained", "err", err)
	}
	trainer := newJunkTrainer(w.store, classifier, w.log)
	srv := imapserver.NewServer(imapserver.Options{
		Backend:      imapserver.NewStoreBackend(w.store),
		Hostname:     w.cfg.Hostname,
		TLSConfig:    w.tlsConf,
		Logger:       w.log,
		AuthLimiter:  w.authLimiter,
		ConnLimiter:  w.connCaps("imap"),
		InsecureAuth: w.insecureAuth(),
		AppendLimit:  appendLimit,
		Compress:     true,
		OnMove:       trainer.onMove,
		IdleTimeout:  imapIdleTimeout,
	})
	for _, b := range []bound{b1, b2} {
		if b.ln != nil {
			w.sup.serve(b, w.listener(b), srv.Serve)
		}
	}
	w.sup.add(server{name: "imap", stop: srv.Shutdown})
	// After the IMAP server, so that no training starts once it waits.
	w.sup.addLast(server{name: "junk-training", stop: trainer.stop})
}

// Junk training limits.
const (
	// maxJunkTrainings is how many trainings run at once; a move while
	// they all run is not trained (and logged).
	maxJunkTrainings = 2
	// junkTrainTimeout bounds one training (all the messages of a move).
	junkTrainTimeout = 5 * time.Minute
)

// junkTrainer trains the Bayes classifier when IMAP users move messages
// into or out of their Junk mailbox, in the background.
type junkTrainer struct {
	store      *mailstore.Store
	classifier *spam.Classifier
	log        *slog.Logger
	sem        chan struct{}
	ctx        context.Context // ends when the server stops
	cancel     context.CancelFunc
	mu         sync.Mutex // guards stopped and wg.Add against stop
	stopped    bool
	wg         sync.WaitGroup
}

func newJunkTrainer(store *mailstore.Store, c *spam.Classifier, log *slog.Logger) *junkTrainer {
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &junkTrainer{
		store: store, classifier: c, log: log.With("component", "junk-training"),
		sem: make(chan struct{}, maxJunkTrainings), ctx: ctx, cancel: cancel,
	}
}

// onMove is the IMAP server's OnMove hook: it trains msgs as spam or ham
// in a goroutine, or drops them if maxJunkTrainings are running.
func (t *junkTrainer) onMove(_ context.Context, userID int64, from, to *mailstore.Mailbox, msgs []mailstore.MessageMeta, isSpam bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped || t.classifier == nil {
		return
	}
	select {
	case t.sem <- struct{}{}:
	default:
		t.log.Warn("junk training busy: messages not trained", "user_id", userID,
			"from", from.Name, "to", to.Name, "messages", len(msgs), "spam", isSpam)
		return
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer func() { <-t.sem }()
		ctx, cancel := context.WithTimeout(t.ctx, junkTrainTimeout)
		defer cancel()
		t.train(ctx, userID, msgs, isSpam)
	}()
}

// train learns each message as spam or ham, in the user's own training
// scope: a user's moves change the verdicts on mail for that user only. A
// message trained as the other before (moved into Junk, then out) has that
// training taken back.
func (t *junkTrainer) train(ctx context.Context, userID int64, msgs []mailstore.MessageMeta, isSpam bool) {
	trained := 0
	for i := range msgs {
		if ctx.Err() != nil {
			break
		}
		body, err := t.store.OpenMessage(ctx, &msgs[i])
		if err != nil {
			t.log.Warn("junk training: open message", "user_id", userID, "uid", msgs[i].UID, "err", err)
			continue
		}
		err = t.classifier.TrainIn(ctx, spam.UserScope(userID), body, isSpam)
		body.Close()
		if err != nil {
			t.log.Warn("junk training failed", "user_id", userID, "uid", msgs[i].UID, "err", err)
			continue
		}
		trained++
	}
	t.log.Debug("junk training done", "user_id", userID, "spam", isSpam, "trained", trained, "messages", len(msgs))
}

// stop ends training: it waits for running trainings until ctx ends, then
// cancels them.
func (t *junkTrainer) stop(ctx context.Context) error {
	t.mu.Lock()
	t.stopped = true
	t.mu.Unlock()
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.cancel()
		<-done
	}
	t.cancel()
	return nil
}
