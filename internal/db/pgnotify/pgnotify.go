// Package pgnotify carries the mailstore's change events between the nodes
// that share one PostgreSQL database, with LISTEN/NOTIFY: it is the
// mailstore.Notifier of a node on PostgreSQL.
//
// Publish hands the events to the local subscribers at once and queues them
// for a sender that NOTIFYs them to the other nodes, in order; a dedicated
// connection LISTENs and hands the other nodes' events to the local
// subscribers. A NOTIFY payload holds at most 8000 bytes: a larger batch is
// kept in a table and the notification carries its row's id.
//
// Nothing is delivered to a node while its listening connection is down, and
// nothing is sent while the sending one is: after such a gap the node that
// missed (or could not send) events publishes mailstore.Resync, on which the
// readers (IMAP sessions) reload their state from the database.
package pgnotify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/yubinmail/yubin/mailstore"
)

// Channel is the NOTIFY channel the nodes talk on.
const Channel = "yubin_events"

// maxInline is the largest payload sent in the notification itself
// (PostgreSQL's limit is 8000 bytes).
const maxInline = 7900

// maxQueued bounds the batches waiting for the sender: beyond it they are
// dropped and the other nodes are told to resync.
const maxQueued = 10000

// payloadTTL is how long a large batch's row is kept for the listeners.
const payloadTTL = time.Hour

// Options configures a Notifier.
type Options struct {
	// Logger receives the notifier's logs; nil means slog.Default().
	Logger *slog.Logger
	// RetryWait is the first wait before connecting again after a lost
	// connection (doubling up to 10 s); 0 means 200 ms.
	RetryWait time.Duration
	// Heartbeat is how long the listening connection may stay quiet
	// before it is pinged, so that a link that died without a word (a
	// network partition, a database failover) is noticed; 0 means 30 s.
	Heartbeat time.Duration
}

// Notifier is a mailstore.Notifier that reaches every node on the database.
type Notifier struct {
	dsn   string
	node  string
	local *mailstore.LocalNotifier
	log   *slog.Logger
	retry time.Duration
	beat  time.Duration

	mu     sync.Mutex
	queue  [][]mailstore.Event // batches waiting for the sender
	lost   bool                // batches were dropped: the others must resync
	wake   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// wireEvent is an Event as it travels, with short names so that more fit
// into one notification.
type wireEvent struct {
	Kind      mailstore.EventKind `json:"k"`
	UserID    int64               `json:"u,omitempty"`
	MailboxID int64               `json:"m,omitempty"`
	ModSeq    int64               `json:"s,omitempty"`
	UIDs      []uint32            `json:"i,omitempty"`
	Flags     [][]string          `json:"f,omitempty"`
	Origin    string              `json:"o,omitempty"`
	From      int64               `json:"fm,omitempty"`
	Names     []string            `json:"n,omitempty"`
	SeenUser  int64               `json:"su,omitempty"`
}

// message is one notification: a node's events, a reference to a row that
// holds them, or a call to resync.
type message struct {
	Node   string      `json:"node"`
	Events []wireEvent `json:"e,omitempty"`
	Ref    int64       `json:"ref,omitempty"`
	Resync bool        `json:"resync,omitempty"`
}

// Open connects to the database at dsn, creates the table of large
// payloads if needed and starts listening; it returns once the first LISTEN
// is in place, so that no event published after it is missed.
func Open(ctx context.Context, dsn string, opts Options) (*Notifier, error) {
	var id [8]byte
	rand.Read(id[:])
	n := &Notifier{
		dsn:   dsn,
		node:  hex.EncodeToString(id[:]),
		local: mailstore.NewLocalNotifier(),
		log:   opts.Logger,
		retry: opts.RetryWait,
		beat:  opts.Heartbeat,
		wake:  make(chan struct{}, 1),
	}
	if n.log == nil {
		n.log = slog.Default()
	}
	if n.retry <= 0 {
		n.retry = 200 * time.Millisecond
	}
	if n.beat <= 0 {
		n.beat = 30 * time.Second
	}
	n.log = n.log.With("node", n.node)
	if err := n.prepare(ctx); err != nil {
		return nil, err
	}
	conn, err := n.listen(ctx)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		n.listenLoop(runCtx, conn)
	}()
	go func() {
		defer n.wg.Done()
		n.sendLoop(runCtx)
	}()
	return n, nil
}

// Node returns this node's random id, which its notifications carry.
func (n *Notifier) Node() string { return n.node }

// Close stops listening and sending; batches not sent yet are dropped.
func (n *Notifier) Close() error {
	n.cancel()
	n.wg.Wait()
	return nil
}

// Subscribe implements mailstore.Notifier: fn gets this node's events and
// the other nodes'.
func (n *Notifier) Subscribe(fn func(mailstore.Event)) func() {
	return n.local.Subscribe(fn)
}

// Publish implements mailstore.Notifier: the local subscribers get events
// at once, the other nodes as soon as the sender has NOTIFYed them.
func (n *Notifier) Publish(events []mailstore.Event) {
	n.local.Publish(events)
	n.mu.Lock()
	if len(n.queue) >= maxQueued {
		n.queue, n.lost = nil, true
	} else {
		n.queue = append(n.queue, events)
	}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// connect opens a connection named for its role, so that an operator (and
// a test) can tell them apart in pg_stat_activity.
func (n *Notifier) connect(ctx context.Context, role string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(n.dsn)
	if err != nil {
		return nil, fmt.Errorf("pgnotify: parse the database address: %w", err)
	}
	cfg.RuntimeParams["application_name"] = "yubin-" + role + "-" + n.node
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgnotify: connect (%s): %w", role, err)
	}
	return conn, nil
}

// prepare creates the table of large payloads, under a lock so that nodes
// starting together do not race.
func (n *Notifier) prepare(ctx context.Context) error {
	conn, err := n.connect(ctx, "setup")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgnotify: create the payload table: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('yubin_notify_payloads'))`); err != nil {
		return fmt.Errorf("pgnotify: create the payload table: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS yubin_notify_payloads (
		id bigserial PRIMARY KEY,
		created timestamptz NOT NULL DEFAULT now(),
		body text NOT NULL)`); err != nil {
		return fmt.Errorf("pgnotify: create the payload table: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgnotify: create the payload table: %w", err)
	}
	return nil
}

// listen opens the listening connection.
func (n *Notifier) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := n.connect(ctx, "listen")
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("pgnotify: listen: %w", err)
	}
	return conn, nil
}

// listenLoop hands the other nodes' events to the local subscribers,
// connecting again when the connection is lost; once it listens again it
// publishes Resync, since what was sent meanwhile is gone.
func (n *Notifier) listenLoop(ctx context.Context, conn *pgx.Conn) {
	for {
		err := n.receive(ctx, conn)
		conn.Close(context.WithoutCancel(ctx))
		if ctx.Err() != nil {
			return
		}
		n.log.Warn("pgnotify: lost the listening connection; connecting again", "err", err)
		conn = nil
		for wait := n.retry; conn == nil; wait = min(2*wait, 10*time.Second) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			if conn, err = n.listen(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				n.log.Warn("pgnotify: listen again", "err", err)
			}
		}
		n.log.Info("pgnotify: listening again; readers resync")
		n.local.Publish([]mailstore.Event{{Kind: mailstore.Resync}})
	}
}

// receive delivers notifications until the connection fails.
func (n *Notifier) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		nt, err := n.wait(ctx, conn)
		if err != nil {
			return err
		}
		if nt == nil {
			continue // quiet, and the connection answers
		}
		var m message
		if err := json.Unmarshal([]byte(nt.Payload), &m); err != nil {
			n.log.Warn("pgnotify: a notification that is not ours", "err", err)
			continue
		}
		if m.Node == n.node {
			continue
		}
		if m.Resync {
			n.local.Publish([]mailstore.Event{{Kind: mailstore.Resync}})
			continue
		}
		if m.Ref != 0 {
			var body string
			err := conn.QueryRow(ctx, `SELECT body FROM yubin_notify_payloads WHERE id = $1`, m.Ref).Scan(&body)
			if err == nil {
				err = json.Unmarshal([]byte(body), &m)
			}
			if err != nil {
				if errors.Is(err, pgx.ErrNoRows) || ctx.Err() == nil {
					n.log.Warn("pgnotify: read a large notification; readers resync", "ref", m.Ref, "err", err)
					n.local.Publish([]mailstore.Event{{Kind: mailstore.Resync}})
				}
				if conn.IsClosed() {
					return err
				}
				continue
			}
		}
		n.local.Publish(n.fromWire(m))
	}
}

// wait returns the next notification, or nil when none came within the
// heartbeat and the connection still answers a ping.
func (n *Notifier) wait(ctx context.Context, conn *pgx.Conn) (*pgconn.Notification, error) {
	waitCtx, cancel := context.WithTimeout(ctx, n.beat)
	nt, err := conn.WaitForNotification(waitCtx)
	cancel()
	if err == nil || ctx.Err() != nil || waitCtx.Err() == nil || conn.IsClosed() {
		return nt, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, n.beat)
	defer cancel()
	if err := conn.Ping(pingCtx); err != nil {
		return nil, fmt.Errorf("no answer to a ping after %s without notifications: %w", n.beat, err)
	}
	return nil, nil
}

// fromWire turns a node's events into local ones. Their origins are made
// the sending node's, so that no local session takes another node's
// session's change for its own.
func (n *Notifier) fromWire(m message) []mailstore.Event {
	out := make([]mailstore.Event, len(m.Events))
	for i, w := range m.Events {
		origin := w.Origin
		if origin != "" {
			origin = m.Node + "/" + origin
		}
		out[i] = mailstore.Event{Kind: w.Kind, UserID: w.UserID, MailboxID: w.MailboxID, ModSeq: w.ModSeq,
			UIDs: w.UIDs, Flags: w.Flags, Origin: origin, FromMailboxID: w.From, Names: w.Names, SeenUser: w.SeenUser}
	}
	return out
}

func toWire(events []mailstore.Event) []wireEvent {
	out := make([]wireEvent, len(events))
	for i, e := range events {
		out[i] = wireEvent{Kind: e.Kind, UserID: e.UserID, MailboxID: e.MailboxID, ModSeq: e.ModSeq,
			UIDs: e.UIDs, Flags: e.Flags, Origin: e.Origin, From: e.FromMailboxID, Names: e.Names, SeenUser: e.SeenUser}
	}
	return out
}

// sendLoop NOTIFYs the queued batches in order, over a connection of its
// own. A batch whose sending failed, or that was dropped from a full queue,
// is replaced by a call to resync once the connection works again.
func (n *Notifier) sendLoop(ctx context.Context) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.WithoutCancel(ctx))
		}
	}()
	wait := n.retry
	lastClean := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
		case <-time.After(10 * time.Minute):
		}
		for {
			if conn == nil {
				var err error
				if conn, err = n.connect(ctx, "notify"); err != nil {
					if ctx.Err() != nil {
						return
					}
					n.log.Warn("pgnotify: connect to send", "err", err)
					n.markLost()
					select {
					case <-ctx.Done():
						return
					case <-time.After(wait):
					}
					wait = min(2*wait, 10*time.Second)
					continue
				}
				wait = n.retry
			}
			n.mu.Lock()
			batches, lost := n.queue, n.lost
			n.queue, n.lost = nil, false
			n.mu.Unlock()
			if lost {
				batches = nil // the others reload everything anyway
			}
			err := n.send(ctx, conn, batches, lost)
			if err == nil && time.Since(lastClean) > payloadTTL/6 {
				_, err = conn.Exec(ctx, `DELETE FROM yubin_notify_payloads WHERE created < $1`, time.Now().Add(-payloadTTL))
				if err == nil {
					lastClean = time.Now()
				}
			}
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			n.log.Warn("pgnotify: send; the other nodes resync", "err", err)
			n.markLost()
			conn.Close(context.WithoutCancel(ctx))
			conn = nil
		}
	}
}

// markLost drops the queue and makes the next send a call to resync.
func (n *Notifier) markLost() {
	n.mu.Lock()
	n.queue, n.lost = nil, true
	n.mu.Unlock()
}

// send NOTIFYs a call to resync (with resync) and then batches, packing as
// many events into one notification as fit.
func (n *Notifier) send(ctx context.Context, conn *pgx.Conn, batches [][]mailstore.Event, resync bool) error {
	if resync {
		if err := n.notify(ctx, conn, message{Node: n.node, Resync: true}); err != nil {
			return err
		}
	}
	var pending []mailstore.Event
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		err := n.notify(ctx, conn, message{Node: n.node, Events: toWire(pending)})
		pending = nil
		return err
	}
	for _, b := range batches {
		if len(pending) > 0 && len(pending)+len(b) > 64 {
			if err := flush(); err != nil {
				return err
			}
		}
		pending = append(pending, b...)
	}
	return flush()
}

// notify sends one message, through the payload table when it is too
// large for a notification.
func (n *Notifier) notify(ctx context.Context, conn *pgx.Conn, m message) error {
	payload, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("pgnotify: encode: %w", err)
	}
	if len(payload) > maxInline {
		var id int64
		if err := conn.QueryRow(ctx, `INSERT INTO yubin_notify_payloads (body) VALUES ($1) RETURNING id`, string(payload)).Scan(&id); err != nil {
			return fmt.Errorf("pgnotify: keep a large notification: %w", err)
		}
		payload = []byte(`{"node":"` + n.node + `","ref":` + strconv.FormatInt(id, 10) + `}`)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, string(payload)); err != nil {
		return fmt.Errorf("pgnotify: notify: %w", err)
	}
	return nil
}
