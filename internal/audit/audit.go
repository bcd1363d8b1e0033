// Package audit keeps the audit log: which administrative change was made,
// by whom, from where and when. A change is recorded by the code that
// makes it, inside the write transaction that makes it, so both commit or
// neither does (Record); the service layer reads the log (Log). The
// actor travels in the context (With).
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/sqltext"
)

// Entry is one administrative change: who did what to which object.
type Entry struct {
	ID       int64     `gorm:"primaryKey"`
	Time     time.Time `gorm:"not null;index"`
	Actor    string    `gorm:"size:320;not null;default:'';index"`
	Source   string    `gorm:"size:20;not null;default:''"` // "api", "cli"
	Action   string    `gorm:"size:100;not null;index"`     // e.g. "domain.create"
	Target   string    `gorm:"size:500;not null;default:'';index"`
	Details  string    `gorm:"type:text;not null;default:''"` // JSON object text or ""
	RemoteIP string    `gorm:"column:remote_ip;size:64;not null;default:''"`
}

// TableName names the audit log's table.
func (Entry) TableName() string { return "audit_entries" }

// Models returns the tables this package owns, for the migration.
func Models() []any { return []any{&Entry{}} }

// Info says who makes the changes done with a context: the actor (an
// admin's email, a user's address, "cli" for the CLI...), where the request
// came from ("api", "cli") and the client's address.
type Info struct {
	Actor    string
	Source   string
	RemoteIP string
}

type infoKey struct{}

// With returns a context whose administrative changes are recorded in the
// audit log as made by info. Changes made with a context that carries no
// Info are not recorded.
func With(ctx context.Context, info Info) context.Context {
	return context.WithValue(ctx, infoKey{}, info)
}

// From returns the Info carried by ctx, if any.
func From(ctx context.Context) (Info, bool) {
	if ctx == nil {
		return Info{}, false
	}
	info, ok := ctx.Value(infoKey{}).(Info)
	return info, ok
}

// Record records an administrative change in the audit log inside tx, the
// write transaction that makes the change, as made by the Info tx's
// context carries; it does nothing when there is none (see With). details
// is marshalled to a JSON object (a map or struct; nil means none); never
// put secrets (passwords, tokens) in it. Every administrative change
// should call it once, after the change succeeded.
func Record(tx *gorm.DB, action, target string, details any) error {
	info, ok := From(tx.Statement.Context)
	if !ok {
		return nil
	}
	return RecordAs(tx, info, action, target, details)
}

// RecordAs writes one audit entry in tx as made by info, whatever tx's
// context says.
func RecordAs(tx *gorm.DB, info Info, action, target string, details any) error {
	d := ""
	if details != nil {
		b, err := json.Marshal(details)
		if err != nil {
			return fmt.Errorf("audit %s: encode details: %w", action, err)
		}
		if len(b) > 0 && b[0] == '{' && string(b) != "{}" {
			d = string(b)
		}
	}
	e := Entry{
		Time:     time.Now().UTC(),
		Actor:    sqltext.Clip(info.Actor, 320),
		Source:   sqltext.Clip(info.Source, 20),
		Action:   sqltext.Clip(action, 100),
		Target:   sqltext.Clip(target, 500),
		Details:  d,
		RemoteIP: sqltext.Clip(info.RemoteIP, 64),
	}
	if err := tx.Create(&e).Error; err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// Reader gives read access to the database the log is in (the mailstore
// today).
type Reader interface {
	// ReadDB returns a handle for reading with ctx.
	ReadDB(ctx context.Context) *gorm.DB
}

// Log reads the audit log.
type Log struct {
	db Reader
}

// NewLog returns the audit log kept in db.
func NewLog(db Reader) *Log { return &Log{db: db} }

// Filter narrows List and Count. Empty fields match all.
type Filter struct {
	Actor  string
	Action string // exact, or a prefix ending in "." ("domain." matches "domain.create")
	Target string
	Since  time.Time // inclusive
	Until  time.Time // exclusive
	Limit  int       // 0 = no limit
	Offset int
}

func (l *Log) query(ctx context.Context, f Filter) (*gorm.DB, error) {
	if f.Limit < 0 || f.Offset < 0 {
		return nil, fmt.Errorf("limit and offset must not be negative: %w", core.ErrInvalid)
	}
	q := l.db.ReadDB(ctx).Model(&Entry{})
	if f.Actor != "" {
		q = q.Where(clause.Eq{Column: clause.Column{Name: "actor"}, Value: f.Actor})
	}
	if f.Action != "" {
		if strings.HasSuffix(f.Action, ".") {
			cond, args := sqltext.HasPrefix("action", f.Action)
			q = q.Where(cond, args...)
		} else {
			q = q.Where(clause.Eq{Column: clause.Column{Name: "action"}, Value: f.Action})
		}
	}
	if f.Target != "" {
		q = q.Where(clause.Eq{Column: clause.Column{Name: "target"}, Value: f.Target})
	}
	if !f.Since.IsZero() {
		q = q.Where(clause.Gte{Column: clause.Column{Name: "time"}, Value: f.Since.UTC()})
	}
	if !f.Until.IsZero() {
		q = q.Where(clause.Lt{Column: clause.Column{Name: "time"}, Value: f.Until.UTC()})
	}
	return q, nil
}

// List returns audit entries, newest first.
func (l *Log) List(ctx context.Context, f Filter) ([]Entry, error) {
	q, err := l.query(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	q = q.Order(clause.OrderBy{Columns: []clause.OrderByColumn{
		{Column: clause.Column{Name: "time"}, Desc: true},
		{Column: clause.Column{Name: "id"}, Desc: true},
	}})
	if f.Limit > 0 {
		q = q.Limit(f.Limit)
	}
	if f.Offset > 0 {
		q = q.Offset(f.Offset)
	}
	es := []Entry{}
	if err := q.Find(&es).Error; err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	return es, nil
}

// Count returns how many audit entries match f (Limit and Offset are
// ignored).
func (l *Log) Count(ctx context.Context, f Filter) (int64, error) {
	f.Limit, f.Offset = 0, 0
	q, err := l.query(ctx, f)
	if err != nil {
		return 0, fmt.Errorf("count audit log: %w", err)
	}
	var n int64
	if err := q.Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count audit log: %w", err)
	}
	return n, nil
}
