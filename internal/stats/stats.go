// Package stats keeps the mail-flow statistics: counters (messages
// accepted, rejected by reason, delivered, ...) summed per hour, for the
// dashboard's charts. The server adds what its counters grew by every few
// seconds (Add); buckets older than Retention are removed. Its table lives
// in the mailstore's database, taken through Database.
package stats

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/db"
	"github.com/yubinmail/yubin/internal/sqltext"
)

// Database is the database the statistics live in: the mailstore's (its
// reader pool and its group-commit writer), which also migrates their
// table with its own (Models).
type Database = db.Tables

// Store keeps the hourly statistics.
type Store struct {
	db Database
}

// New returns the statistics kept in db.
func New(db Database) *Store { return &Store{db: db} }

// Retention is how long hourly buckets are kept.
const Retention = 35 * 24 * time.Hour

// maxStatsBuckets bounds the hours one Series call may span (a year).
const maxStatsBuckets = 366 * 24

// MaxMetricLen is the longest metric name (the column's size).
const MaxMetricLen = 64

// statsBucket is the count of one metric in one hour.
type statsBucket struct {
	Hour   time.Time `gorm:"primaryKey;autoIncrement:false"` // UTC, on the hour
	Metric string    `gorm:"primaryKey;size:64"`
	Count  int64     `gorm:"not null;default:0"`
}

func (statsBucket) TableName() string { return "stats_buckets" }

// Models returns the tables this package owns, for the migration.
func Models() []any { return []any{&statsBucket{}} }

// Hour returns the hour bucket t falls in: t in UTC, truncated to the
// hour.
func Hour(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }

// Add adds deltas (by metric name) to the counts of the hour t falls in,
// in one transaction. Zero deltas are skipped. The first write of an hour
// also removes buckets older than Retention.
func (s *Store) Add(ctx context.Context, t time.Time, deltas map[string]int64) error {
	hour := Hour(t)
	names := make([]string, 0, len(deltas))
	for name, d := range deltas {
		if d == 0 {
			continue
		}
		if name == "" || len(name) > MaxMetricLen {
			return fmt.Errorf("add stats: metric %q: %w", name, core.ErrInvalid)
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		return nil
	}
	// A stable order keeps concurrent writers (e.g. on PostgreSQL) from
	// locking rows in opposite orders.
	slices.Sort(names)
	err := s.db.WriteTx(ctx, false, func(tx *gorm.DB, _ func(func())) error {
		var seen []statsBucket
		if err := tx.Model(&statsBucket{}).Where("hour = ?", hour).Limit(1).Find(&seen).Error; err != nil {
			return err
		}
		if len(seen) == 0 { // a new hour: prune, about once an hour
			cutoff := Hour(time.Now()).Add(-Retention)
			if err := tx.Where("hour < ?", cutoff).Delete(&statsBucket{}).Error; err != nil {
				return err
			}
		}
		rows := make([]statsBucket, len(names))
		for i, name := range names {
			rows[i] = statsBucket{Hour: hour, Metric: name, Count: deltas[name]}
		}
		return tx.Clauses(clause.OnConflict{
			Columns: []clause.Column{{Name: "hour"}, {Name: "metric"}},
			DoUpdates: clause.Set{{
				Column: clause.Column{Name: "count"},
				Value:  gorm.Expr("stats_buckets.count + excluded.count"),
			}},
		}).Create(&rows).Error
	})
	if err != nil {
		return fmt.Errorf("add stats: %w", err)
	}
	return nil
}

// Series returns, per metric, its count in each hour from since
// (truncated to the hour) up to until (exclusive): element i is the hour
// starting at Hour(since)+i hours, zero where nothing was counted.
//
// A metric ending in "*" stands for every metric with that prefix that has
// counts in the range (e.g. "rejected.*"), each returned under its own name;
// other metrics are always in the result. No metrics means every metric with
// counts in the range.
func (s *Store) Series(ctx context.Context, since, until time.Time, metrics []string) (map[string][]int64, error) {
	start := Hour(since)
	until = until.UTC()
	if !until.After(start) {
		return nil, fmt.Errorf("stats series: until must be after since: %w", core.ErrInvalid)
	}
	span := until.Sub(start)
	n := int(span / time.Hour)
	if span%time.Hour != 0 {
		n++
	}
	if n > maxStatsBuckets {
		return nil, fmt.Errorf("stats series: more than %d hours: %w", maxStatsBuckets, core.ErrInvalid)
	}
	out := make(map[string][]int64, len(metrics))
	db := s.db.ReadDB(ctx)
	q := db.Model(&statsBucket{}).Where("hour >= ? AND hour < ?", start, until)
	if len(metrics) > 0 {
		var exact []string
		cond := db.Where("1 = 0")
		for _, m := range metrics {
			if prefix, ok := strings.CutSuffix(m, "*"); ok {
				c, args := sqltext.HasPrefix("metric", prefix)
				cond = cond.Or(c, args...)
				continue
			}
			exact = append(exact, m)
			out[m] = make([]int64, n)
		}
		if len(exact) > 0 {
			cond = cond.Or("metric IN ?", exact)
		}
		q = q.Where(cond)
	}
	var rows []statsBucket
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("stats series: %w", err)
	}
	for _, r := range rows {
		i := int(r.Hour.UTC().Sub(start) / time.Hour)
		if i < 0 || i >= n {
			continue
		}
		series, ok := out[r.Metric]
		if !ok {
			series = make([]int64, n)
			out[r.Metric] = series
		}
		series[i] += r.Count
	}
	return out, nil
}
