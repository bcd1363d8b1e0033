package mailstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// spamModels returns the tables of the spam filter: the Bayesian token
// counts and the quarantine.
func spamModels() []any {
	return []any{&bayesToken{}, &bayesTotals{}, &QuarantinedMessage{}}
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

// BayesCount is how many trained spam and ham messages contained a token. It
// is an alias of an unnamed struct type so that the spam filter's TokenCount
// can be the very same type without either package importing the other.
type BayesCount = struct{ Spam, Ham int64 }

// BayesStore keeps the token counts of the Bayesian spam classifier in the
// store's database. It implements the spam filter's TokenStore. It is safe
// for concurrent use.
type BayesStore struct {
	s *Store
}

// BayesTokens returns the store's Bayesian token counts.
func (s *Store) BayesTokens() *BayesStore { return &BayesStore{s: s} }

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
func (b *BayesStore) Counts(ctx context.Context, tokens []string) (map[string]BayesCount, int64, int64, error) {
	keys := make(map[string][]string, len(tokens)) // stored key -> tokens
	for _, t := range tokens {
		k := bayesKey(t)
		if !slices.Contains(keys[k], t) {
			keys[k] = append(keys[k], t)
		}
	}
	all := make([]string, 0, len(keys))
	for k := range keys {
		all = append(all, k)
	}
	slices.Sort(all)
	cache := &b.s.bayes
	counts, missing, spam, ham, totalsOK, gen := cache.lookup(all)
	if len(missing) > 0 || !totalsOK {
		var totals bayesTotals
		fetched := make(map[string]BayesCount, len(missing))
		err := b.s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			err := tx.Where("id = ?", bayesTotalsID).Take(&totals).Error
			if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
				return err
			}
			for chunk := range slices.Chunk(missing, bayesChunk) {
				var rows []bayesToken
				if err := tx.Where("token IN ?", chunk).Find(&rows).Error; err != nil {
					return err
				}
				for _, r := range rows {
					fetched[r.Token] = BayesCount{Spam: r.Spam, Ham: r.Ham}
				}
			}
			return nil
		})
		if err != nil {
			return nil, 0, 0, fmt.Errorf("bayes counts: %w", err)
		}
		cache.store(gen, missing, fetched, totals.Spam, totals.Ham)
		for k, n := range fetched {
			counts[k] = n
		}
		spam, ham = totals.Spam, totals.Ham
	}
	out := make(map[string]BayesCount)
	for k, n := range counts {
		if n == (BayesCount{}) {
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
func (b *BayesStore) Learn(ctx context.Context, tokens []string, spam bool, delta int) error {
	if delta == 0 {
		return nil
	}
	col := "ham"
	if spam {
		col = "spam"
	}
	keys := make([]string, 0, len(tokens))
	seen := make(map[string]bool, len(tokens))
	for _, t := range tokens {
		if k := bayesKey(t); !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	// A stable order keeps concurrent writers (e.g. on PostgreSQL) from
	// locking rows in opposite orders.
	slices.Sort(keys)
	d := int64(delta)
	err := b.s.write(ctx, func(tx *writeTx) error {
		if err := addBayesTotals(tx, col, d); err != nil {
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
	})
	if err != nil {
		return fmt.Errorf("bayes learn: %w", err)
	}
	b.s.bayes.invalidate(keys)
	return nil
}

// addBayesTotals adds d (possibly negative) to the number of trained
// messages in col, never going below 0.
func addBayesTotals(tx *writeTx, col string, d int64) error {
	row := bayesTotals{ID: bayesTotalsID}
	if d > 0 {
		if col == "spam" {
			row.Spam = d
		} else {
			row.Ham = d
		}
	}
	return tx.Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "id"}},
		DoUpdates: clause.Set{{
			Column: clause.Column{Name: col},
			Value:  gorm.Expr("CASE WHEN bayes_totals."+col+" + ? < 0 THEN 0 ELSE bayes_totals."+col+" + ? END", d, d),
		}},
	}).Create(&row).Error
}

// Totals returns the numbers of trained spam and ham messages.
func (b *BayesStore) Totals(ctx context.Context) (spam, ham int64, err error) {
	var t bayesTotals
	err = b.s.db.WithContext(ctx).Where("id = ?", bayesTotalsID).Take(&t).Error
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return 0, 0, fmt.Errorf("bayes totals: %w", err)
	}
	return t.Spam, t.Ham, nil
}
