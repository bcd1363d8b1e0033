// Package bayesdb keeps the token counts of the spam filter's Bayesian
// classifier (filters/spam) in the database: per training scope (the
// server's, a domain's, a user's), with what each message was trained as,
// behind a cache that training keeps current. It owns its tables
// (bayes_tokens, bayes_totals, bayes_scope_totals, bayes_trained) and
// reaches the database through Database, which the mailstore implements.
package bayesdb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/yubinmail/yubin/internal/db"
)

// Database is the database the token counts are kept in: the mailstore's
// today (its reader pool and its group-commit writer).
type Database interface {
	db.Tables
}

// Models are the tables of the token counts.
func Models() []any {
	return []any{&bayesToken{}, &bayesTotals{}, &bayesScopeTotals{}, &bayesTrained{}}
}

// maxBayesTokenLen is the longest token stored as is; longer ones are stored
// under a hash (see bayesKey).
const maxBayesTokenLen = 64

// bayesToken counts the trained spam and ham messages a token appeared in.
type bayesToken struct {
	Token string `gorm:"primaryKey;size:64"`
	Spam  int64  `gorm:"not null;default:0"`
	Ham   int64  `gorm:"not null;default:0"`
}

func (bayesToken) TableName() string { return "bayes_tokens" }

// bayesTotals is the single row (ID 1) counting the trained messages.
type bayesTotals struct {
	ID   int64 `gorm:"primaryKey;autoIncrement:false"`
	Spam int64 `gorm:"not null;default:0"`
	Ham  int64 `gorm:"not null;default:0"`
}

func (bayesTotals) TableName() string { return "bayes_totals" }

const bayesTotalsID = 1

// bayesScopeTotals counts the trained messages of a scope other than the
// server's (a domain's, a user's).
type bayesScopeTotals struct {
	Scope string `gorm:"primaryKey;size:300"`
	Spam  int64  `gorm:"not null;default:0"`
	Ham   int64  `gorm:"not null;default:0"`
}

func (bayesScopeTotals) TableName() string { return "bayes_scope_totals" }

// bayesTrained records what a message was trained as in a scope, by the
// digest of its raw bytes, so that training it again as the same does not
// count it twice, and training it as the other first takes back what it
// was trained as.
type bayesTrained struct {
	Scope  string `gorm:"primaryKey;size:300"`
	Digest string `gorm:"primaryKey;size:64"`
	Spam   bool   `gorm:"not null"`
}

func (bayesTrained) TableName() string { return "bayes_trained" }

// Count is how many trained spam and ham messages contained a token. It is
// an alias of an unnamed struct type so that the spam filter's TokenCount
// is the very same type without either package importing the other.
type Count = struct{ Spam, Ham int64 }

// Store keeps the token counts of the Bayesian spam classifier for one
// scope: the server's ("", trained by server admins) or another (a
// domain's or a user's, named by the spam filter), whose counts are kept
// apart so that training in it changes only the verdicts that read it. It
// implements the spam filter's TokenStore and MessageTrainer. It is safe
// for concurrent use; the stores of every scope share one cache, so open
// one Store per database and take its scopes with Scope.
type Store struct {
	db    Database
	cache *bayesCache
	scope string
}

// Open returns the server's scope of the token counts kept in db, creating
// or updating their tables.
func Open(ctx context.Context, db Database) (*Store, error) {
	if err := db.MigrateTables(ctx, "bayes", Models()...); err != nil {
		return nil, fmt.Errorf("open the Bayes token counts: %w", err)
	}
	return &Store{db: db, cache: &bayesCache{}}, nil
}

// Scope returns the counts of scope ("" is the server's).
func (b *Store) Scope(scope string) *Store { return &Store{db: b.db, cache: b.cache, scope: scope} }

// key returns the stored form of token in b's scope: tokens of another
// scope than the server's are prefixed with "@scope " (no token starts
// with "@").
func (b *Store) key(token string) string {
	if b.scope == "" {
		return bayesKey(token)
	}
	return bayesKey("@" + b.scope + " " + token)
}

// bayesKey returns the stored form of token: the token itself, or for a
// token too long for the column a hash of it.
func bayesKey(token string) string {
	if len(token) <= maxBayesTokenLen {
		return token
	}
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:24]) // 7 + 48 bytes
}

// bayesChunk bounds how many tokens go into one statement.
const bayesChunk = 300

// Counts returns the counts of the given tokens that were seen in training
// (unknown tokens are absent from the map) and the numbers of trained spam
// and ham messages. Counts come from a cache that Learn keeps current (see
// bayesCache); what it lacks is read from the database in one snapshot.
// A scope in which nothing is trained (its totals known to be 0) has no
// counts: its tokens are not looked up.
func (b *Store) Counts(ctx context.Context, tokens []string) (map[string]Count, int64, int64, error) {
	if spam, ham, ok := b.cache.totalsOf(b.scope); ok && spam == 0 && ham == 0 {
		return map[string]Count{}, 0, 0, nil
	}
	keys := make(map[string][]string, len(tokens)) // stored key -> tokens
	for _, t := range tokens {
		k := b.key(t)
		if !slices.Contains(keys[k], t) {
			keys[k] = append(keys[k], t)
		}
	}
	all := make([]string, 0, len(keys))
	for k := range keys {
		all = append(all, k)
	}
	cache := b.cache
	counts, missing, spam, ham, totalsOK, gen := cache.lookup(b.scope, all)
	slices.Sort(missing) // the same statements for the same tokens
	if len(missing) > 0 || !totalsOK {
		var totals bayesTotals
		fetched := make(map[string]Count, len(missing))
		err := b.db.ReadDB(ctx).Transaction(func(tx *gorm.DB) error {
			var err error
			totals.Spam, totals.Ham, err = b.totalsIn(tx)
			if err != nil {
				return err
			}
			for chunk := range slices.Chunk(missing, bayesChunk) {
				var rows []bayesToken
				if err := tx.Where("token IN ?", chunk).Find(&rows).Error; err != nil {
					return err
				}
				for _, r := range rows {
					fetched[r.Token] = Count{Spam: r.Spam, Ham: r.Ham}
				}
			}
			return nil
		})
		if err != nil {
			return nil, 0, 0, fmt.Errorf("bayes counts: %w", err)
		}
		cache.store(gen, b.scope, missing, fetched, totals.Spam, totals.Ham)
		for k, n := range fetched {
			counts[k] = n
		}
		spam, ham = totals.Spam, totals.Ham
	}
	out := make(map[string]Count)
	for k, n := range counts {
		if n == (Count{}) {
			continue // not seen in training
		}
		for _, t := range keys[k] {
			out[t] = n
		}
	}
	return out, spam, ham, nil
}

// Learn adds delta (1 to learn a message, -1 to unlearn it) to the spam or
// ham count of every token and to the number of trained spam or ham
// messages, in one transaction. Duplicate tokens count once. Counts never go
// below 0, and tokens whose counts both reach 0 are removed.
func (b *Store) Learn(ctx context.Context, tokens []string, spam bool, delta int) error {
	if delta == 0 {
		return nil
	}
	keys := b.keys(tokens)
	err := b.db.WriteTx(ctx, false, func(tx *gorm.DB, _ func(func())) error {
		return b.learnIn(tx, keys, spam, int64(delta))
	})
	if err != nil {
		return fmt.Errorf("bayes learn: %w", err)
	}
	b.cache.invalidate(keys)
	return nil
}

// TrainMessage learns the message whose raw bytes have the SHA-256 digest
// (hex) and the given tokens as spam or ham, once: a message trained as
// the same already is left alone (trained reports false), one trained as
// the other is first unlearned from it (moving a message out of Junk
// takes back its spam training and trains it as ham, and the reverse).
func (b *Store) TrainMessage(ctx context.Context, digest string, tokens []string, spam bool) (trained bool, err error) {
	keys := b.keys(tokens)
	err = b.db.WriteTx(ctx, false, func(tx *gorm.DB, _ func(func())) error {
		trained = false
		var rec bayesTrained
		err := tx.Where("scope = ? AND digest = ?", b.scope, digest).Take(&rec).Error
		switch {
		case err == nil && rec.Spam == spam:
			return nil
		case err == nil:
			if err := b.learnIn(tx, keys, rec.Spam, -1); err != nil {
				return err
			}
		case !errors.Is(err, gorm.ErrRecordNotFound):
			return err
		}
		if err := b.learnIn(tx, keys, spam, 1); err != nil {
			return err
		}
		trained = true
		return tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "scope"}, {Name: "digest"}},
			DoUpdates: clause.AssignmentColumns([]string{"spam"}),
		}).Create(&bayesTrained{Scope: b.scope, Digest: digest, Spam: spam}).Error
	})
	if err != nil {
		return false, fmt.Errorf("bayes train: %w", err)
	}
	b.cache.invalidate(keys)
	return trained, nil
}

// keys returns the distinct stored keys of tokens, sorted: a stable order
// keeps concurrent writers (e.g. on PostgreSQL) from locking rows in
// opposite orders.
func (b *Store) keys(tokens []string) []string {
	keys := make([]string, 0, len(tokens))
	seen := make(map[string]bool, len(tokens))
	for _, t := range tokens {
		if k := b.key(t); !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// learnIn adds d to the spam or ham count of keys and to the scope's
// totals, in tx.
func (b *Store) learnIn(tx *gorm.DB, keys []string, spam bool, d int64) error {
	col := "ham"
	if spam {
		col = "spam"
	}
	if err := b.addTotals(tx, col, d); err != nil {
		return err
	}
	if d > 0 {
		for chunk := range slices.Chunk(keys, bayesChunk) {
			rows := make([]bayesToken, len(chunk))
			for i, k := range chunk {
				rows[i].Token = k
				if spam {
					rows[i].Spam = d
				} else {
					rows[i].Ham = d
				}
			}
			err := tx.Clauses(clause.OnConflict{
				Columns: []clause.Column{{Name: "token"}},
				DoUpdates: clause.Set{{
					Column: clause.Column{Name: col},
					Value:  gorm.Expr("bayes_tokens." + col + " + excluded." + col),
				}},
			}).Create(&rows).Error
			if err != nil {
				return err
			}
		}
		return nil
	}
	for chunk := range slices.Chunk(keys, bayesChunk) {
		err := tx.Model(&bayesToken{}).Where("token IN ?", chunk).
			Update(col, gorm.Expr("CASE WHEN "+col+" + ? < 0 THEN 0 ELSE "+col+" + ? END", d, d)).Error
		if err != nil {
			return err
		}
		if err := tx.Where("token IN ? AND spam = 0 AND ham = 0", chunk).Delete(&bayesToken{}).Error; err != nil {
			return err
		}
	}
	return nil
}

// addTotals adds d (possibly negative) to the number of trained messages
// of b's scope in col, never going below 0.
func (b *Store) addTotals(tx *gorm.DB, col string, d int64) error {
	var spam, ham int64
	if d > 0 && col == "spam" {
		spam = d
	} else if d > 0 {
		ham = d
	}
	var row any = &bayesTotals{ID: bayesTotalsID, Spam: spam, Ham: ham}
	table, key := "bayes_totals", "id"
	if b.scope != "" {
		row = &bayesScopeTotals{Scope: b.scope, Spam: spam, Ham: ham}
		table, key = "bayes_scope_totals", "scope"
	}
	return tx.Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: key}},
		DoUpdates: clause.Set{{
			Column: clause.Column{Name: col},
			Value:  gorm.Expr("CASE WHEN "+table+"."+col+" + ? < 0 THEN 0 ELSE "+table+"."+col+" + ? END", d, d),
		}},
	}).Create(row).Error
}

// totalsIn reads the numbers of trained spam and ham messages of b's scope
// with db.
func (b *Store) totalsIn(db *gorm.DB) (spam, ham int64, err error) {
	if b.scope == "" {
		var t bayesTotals
		err = db.Where("id = ?", bayesTotalsID).Take(&t).Error
		if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
			return 0, 0, err
		}
		return t.Spam, t.Ham, nil
	}
	var t bayesScopeTotals
	err = db.Where("scope = ?", b.scope).Take(&t).Error
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return 0, 0, err
	}
	return t.Spam, t.Ham, nil
}

// Totals returns the numbers of trained spam and ham messages of b's scope.
func (b *Store) Totals(ctx context.Context) (spam, ham int64, err error) {
	spam, ham, err = b.totalsIn(b.db.ReadDB(ctx))
	if err != nil {
		return 0, 0, fmt.Errorf("bayes totals: %w", err)
	}
	return spam, ham, nil
}
