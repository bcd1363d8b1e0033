package mailstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/yubinmail/yubin/core"
)

// AuditEntry is one administrative change: who did what to which object.
type AuditEntry struct {
	ID       int64     `gorm:"primaryKey" json:"id"`
	Time     time.Time `gorm:"not null;index" json:"time"`
	Actor    string    `gorm:"size:320;not null;default:'';index" json:"actor"`
	Source   string    `gorm:"size:20;not null;default:''" json:"source"` // "api", "cli"
	Action   string    `gorm:"size:100;not null;index" json:"action"`     // e.g. "domain.create"
	Target   string    `gorm:"size:500;not null;default:'';index" json:"target"`
	Details  string    `gorm:"type:text;not null;default:''" json:"details"` // JSON object text or ""
	RemoteIP string    `gorm:"column:remote_ip;size:64;not null;default:''" json:"remote_ip"`
}

// AuditInfo says who makes the changes done with a context: the actor (an
// admin's email, a user's address, "root" for the CLI...), where the request
// came from ("api", "cli") and the client's address.
type AuditInfo struct {
	Actor    string
	Source   string
	RemoteIP string
}

type auditKey struct{}

// WithAudit returns a context whose administrative changes are recorded in
// the audit log as made by info. Changes made with a context that carries no
// AuditInfo are not recorded.
func WithAudit(ctx context.Context, info AuditInfo) context.Context {
	return context.WithValue(ctx, auditKey{}, info)
}

// auditFrom returns the AuditInfo carried by ctx, if any.
func auditFrom(ctx context.Context) (AuditInfo, bool) {
	if ctx == nil {
		return AuditInfo{}, false
	}
	info, ok := ctx.Value(auditKey{}).(AuditInfo)
	return info, ok
}

// audit records an administrative change in the audit log, inside the write
// transaction that makes the change, so both commit or neither does. It is a
// no-op when the write's context carries no AuditInfo (see WithAudit).
// details is marshalled to a JSON object (a map or struct; nil means none);
// never put secrets (passwords, tokens) in it.
//
// Every administrative mutation should call it once, after its change
// succeeded and before returning nil from the write function:
//
//	err = s.write(ctx, func(tx *writeTx) error {
//		... change ...
//		return tx.audit("alias.create", alias, map[string]any{"to": dests})
//	})
func (tx *writeTx) audit(action, target string, details any) error {
	info, ok := auditFrom(tx.Statement.Context)
	if !ok {
		return nil
	}
	return tx.recordAudit(info, action, target, details)
}

// recordAudit writes one audit row with the given info, whatever the
// transaction's context says.
func (tx *writeTx) recordAudit(info AuditInfo, action, target string, details any) error {
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
	e := AuditEntry{
		Time:     time.Now().UTC(),
		Actor:    truncateUTF8(info.Actor, 320),
		Source:   truncateUTF8(info.Source, 20),
		Action:   truncateUTF8(action, 100),
		Target:   truncateUTF8(target, 500),
		Details:  d,
		RemoteIP: truncateUTF8(info.RemoteIP, 64),
	}
	if err := tx.Create(&e).Error; err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 {
		r, size := utf8.DecodeLastRuneInString(s)
		if r != utf8.RuneError || size > 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}

// AuditFilter narrows ListAudit and CountAudit. Empty fields match all.
type AuditFilter struct {
	Actor  string
	Action string // exact, or a prefix ending in "." ("domain." matches "domain.create")
	Target string
	Since  time.Time // inclusive
	Until  time.Time // exclusive
	Limit  int       // 0 = no limit
	Offset int
}

func (s *Store) auditQuery(ctx context.Context, f AuditFilter) (*gorm.DB, error) {
	if f.Limit < 0 || f.Offset < 0 {
		return nil, fmt.Errorf("limit and offset must not be negative: %w", core.ErrInvalid)
	}
	q := s.db.WithContext(ctx).Model(&AuditEntry{})
	if f.Actor != "" {
		q = q.Where(clause.Eq{Column: clause.Column{Name: "actor"}, Value: f.Actor})
	}
	if f.Action != "" {
		if strings.HasSuffix(f.Action, ".") {
			q = q.Where("action LIKE ? ESCAPE '\\'", escapeLike(f.Action)+"%")
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

// ListAudit returns audit entries, newest first.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	q, err := s.auditQuery(ctx, f)
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
	var es []AuditEntry
	if err := q.Find(&es).Error; err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	return es, nil
}

// CountAudit returns how many audit entries match f (Limit and Offset are
// ignored).
func (s *Store) CountAudit(ctx context.Context, f AuditFilter) (int64, error) {
	f.Limit, f.Offset = 0, 0
	q, err := s.auditQuery(ctx, f)
	if err != nil {
		return 0, fmt.Errorf("count audit log: %w", err)
	}
	var n int64
	if err := q.Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count audit log: %w", err)
	}
	return n, nil
}
