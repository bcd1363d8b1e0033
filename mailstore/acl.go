package mailstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/yubinmail/yubin/core"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Mailbox access control lists (RFC 4314). A mailbox's owner holds every
// right, always; other users hold the rights granted to their address or,
// if they are users of the owner's domain, to Anyone. Negative rights are
// not supported.

// AllRights are the RFC 4314 rights in canonical order: lookup, read,
// keep seen, write (other flags), insert, post, create (k), delete
// mailbox (x), delete messages (t), expunge (e), administer (a).
const AllRights = "lrswipkxtea"

// Anyone is the identifier that grants rights to every user of the
// mailbox owner's domain. On a server that hosts several domains (several
// customers), "anyone" never reaches users of another domain: RFC 4314
// section 3 lets a server restrict what an identifier stands for, and an
// owner who means a user elsewhere names that user.
const Anyone = "anyone"

// grantReaches is the condition on mailbox_acl rows that apply to the user
// given twice as arguments: those naming the user, and Anyone's of owners
// in the user's domain.
const grantReaches = "(grantee_id = ? OR (identifier = '" + Anyone + "' AND owner_id IN " +
	"(SELECT id FROM users WHERE domain_id = (SELECT domain_id FROM users WHERE id = ?))))"

// MailboxGrant is one entry of a mailbox's access control list: the
// rights of one identifier (a user's address or Anyone).
type MailboxGrant struct {
	MailboxID  int64  `gorm:"primaryKey;autoIncrement:false"`
	Identifier string `gorm:"primaryKey;size:320"`
	// GranteeID is the user the identifier names, 0 for Anyone.
	GranteeID int64 `gorm:"not null;index"`
	// OwnerID is the mailbox's owner, so that a user's grants go with it.
	OwnerID int64  `gorm:"not null;index"`
	Rights  string `gorm:"size:20;not null"`
}

// TableName names the table of grants.
func (MailboxGrant) TableName() string { return "mailbox_acl" }

func aclModels() []any { return append([]any{&MailboxGrant{}, &sharedAccount{}}, seenModels()...) }

// CanonicalRights validates a rights string (letters of AllRights, in any
// order, repeated or not) and returns it in canonical order.
func CanonicalRights(rights string) (string, error) {
	for _, r := range rights {
		if !strings.ContainsRune(AllRights, r) {
			return "", fmt.Errorf("unknown right %q (rights are %s): %w", r, AllRights, core.ErrInvalid)
		}
	}
	var b strings.Builder
	for _, r := range AllRights {
		if strings.ContainsRune(rights, r) {
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}

// unionRights returns the rights of a and b together, canonical.
func unionRights(a, b string) string {
	out, _ := CanonicalRights(a + b)
	return out
}

// MailboxACL returns the grants of a mailbox by identifier; the owner's
// implicit rights are not among them.
func (s *Store) MailboxACL(ctx context.Context, mailboxID int64) ([]MailboxGrant, error) {
	var gs []MailboxGrant
	if err := s.db.WithContext(ctx).Where("mailbox_id = ?", mailboxID).Order("identifier").Find(&gs).Error; err != nil {
		return nil, fmt.Errorf("ACL of mailbox %d: %w", mailboxID, err)
	}
	return gs, nil
}

// SetMailboxRights sets the rights of identifier (a user's address or
// Anyone) on a mailbox; empty rights remove its entry. The owner's rights
// cannot be changed (core.ErrConflict); an identifier that is neither
// Anyone nor an account is core.ErrNotFound.
func (s *Store) SetMailboxRights(ctx context.Context, mailboxID int64, identifier, rights string) error {
	rights, err := CanonicalRights(rights)
	if err != nil {
		return fmt.Errorf("set rights on mailbox %d: %w", mailboxID, err)
	}
	ident := strings.ToLower(strings.TrimSpace(identifier))
	if ident != Anyone {
		a, err := core.NormalizeAddress(identifier)
		if err != nil {
			return fmt.Errorf("set rights on mailbox %d: identifier %q: %w", mailboxID, identifier, core.ErrInvalid)
		}
		ident = a
	}
	err = s.write(ctx, func(tx *writeTx) error {
		var mb Mailbox
		if err := tx.Where("id = ?", mailboxID).Take(&mb).Error; err != nil {
			return notFound(err)
		}
		var granteeID int64
		if ident != Anyone {
			var u User
			if err := tx.Select("id").Where("address = ?", ident).Take(&u).Error; err != nil {
				return fmt.Errorf("user %s: %w", ident, notFound(err))
			}
			if u.ID == mb.UserID {
				return fmt.Errorf("the owner's rights are fixed: %w", core.ErrConflict)
			}
			granteeID = u.ID
		}
		if rights == "" {
			if err := tx.Where("mailbox_id = ? AND identifier = ?", mb.ID, ident).Delete(&MailboxGrant{}).Error; err != nil {
				return err
			}
		} else {
			g := MailboxGrant{MailboxID: mb.ID, Identifier: ident, GranteeID: granteeID, OwnerID: mb.UserID, Rights: rights}
			if err := tx.Clauses(clause.OnConflict{
				Columns:   []clause.Column{{Name: "mailbox_id"}, {Name: "identifier"}},
				DoUpdates: clause.AssignmentColumns([]string{"rights"}),
			}).Create(&g).Error; err != nil {
				return err
			}
		}
		// The grantee's list of mailboxes changed.
		tx.publish(Event{Kind: MailboxesChanged, UserID: granteeID, MailboxID: mb.ID})
		return tx.audit("mailbox.acl", fmt.Sprintf("%d/%s", mb.ID, ident), map[string]any{"rights": rights})
	})
	if err != nil {
		return fmt.Errorf("set rights of %s on mailbox %d: %w", ident, mailboxID, err)
	}
	return nil
}

// RightsOn returns the rights user userID has on a mailbox: all of them
// for its owner, else those granted to the user and, if the user is of the
// owner's domain, to Anyone, together.
func (s *Store) RightsOn(ctx context.Context, mailboxID, userID int64) (string, error) {
	var mb Mailbox
	if err := s.db.WithContext(ctx).Select("id", "user_id").Where("id = ?", mailboxID).Take(&mb).Error; err != nil {
		return "", fmt.Errorf("rights on mailbox %d: %w", mailboxID, notFound(err))
	}
	if mb.UserID == userID {
		return AllRights, nil
	}
	var gs []MailboxGrant
	if err := s.db.WithContext(ctx).Where("mailbox_id = ? AND "+grantReaches, mailboxID, userID, userID).Find(&gs).Error; err != nil {
		return "", fmt.Errorf("rights on mailbox %d: %w", mailboxID, err)
	}
	rights := ""
	for _, g := range gs {
		rights = unionRights(rights, g.Rights)
	}
	return rights, nil
}

// SharedMailbox is a mailbox of another user that a user holds rights on.
type SharedMailbox struct {
	Mailbox Mailbox
	Owner   string // the owner's address
	Rights  string
}

// SharedWith returns the mailboxes of other users that userID holds any
// right on (granted by address, or to Anyone in the user's domain), by
// owner and name.
func (s *Store) SharedWith(ctx context.Context, userID int64) ([]SharedMailbox, error) {
	var gs []MailboxGrant
	if err := s.db.WithContext(ctx).Where(grantReaches+" AND owner_id <> ?", userID, userID, userID).Find(&gs).Error; err != nil {
		return nil, fmt.Errorf("mailboxes shared with user %d: %w", userID, err)
	}
	if len(gs) == 0 {
		return nil, nil
	}
	rights := map[int64]string{}
	ids := make([]int64, 0, len(gs))
	for _, g := range gs {
		if _, ok := rights[g.MailboxID]; !ok {
			ids = append(ids, g.MailboxID)
		}
		rights[g.MailboxID] = unionRights(rights[g.MailboxID], g.Rights)
	}
	var mbs []Mailbox
	if err := s.db.WithContext(ctx).Where("id IN ?", ids).Find(&mbs).Error; err != nil {
		return nil, fmt.Errorf("mailboxes shared with user %d: %w", userID, err)
	}
	owners := map[int64]string{}
	for _, mb := range mbs {
		owners[mb.UserID] = ""
	}
	ownerIDs := make([]int64, 0, len(owners))
	for id := range owners {
		ownerIDs = append(ownerIDs, id)
	}
	var us []User
	if err := s.db.WithContext(ctx).Select("id", "address").Where("id IN ?", ownerIDs).Find(&us).Error; err != nil {
		return nil, fmt.Errorf("owners of mailboxes shared with user %d: %w", userID, err)
	}
	for _, u := range us {
		owners[u.ID] = u.Address
	}
	out := make([]SharedMailbox, 0, len(mbs))
	for _, mb := range mbs {
		if owners[mb.UserID] == "" {
			continue
		}
		out = append(out, SharedMailbox{Mailbox: mb, Owner: owners[mb.UserID], Rights: rights[mb.ID]})
	}
	slices.SortFunc(out, func(a, b SharedMailbox) int {
		return cmp.Or(strings.Compare(a.Owner, b.Owner), strings.Compare(a.Mailbox.Name, b.Mailbox.Name))
	})
	return out, nil
}

// CopyMailboxACL gives mailbox to the grants of mailbox from (a new
// mailbox inherits its parent's ACL, RFC 4314 §5.1.1 leaves it to the
// server). Both must have the same owner.
func (s *Store) CopyMailboxACL(ctx context.Context, from, to int64) error {
	err := s.write(ctx, func(tx *writeTx) error {
		var src, dst Mailbox
		if err := tx.Where("id = ?", from).Take(&src).Error; err != nil {
			return notFound(err)
		}
		if err := tx.Where("id = ?", to).Take(&dst).Error; err != nil {
			return notFound(err)
		}
		if src.UserID != dst.UserID {
			return fmt.Errorf("mailboxes of different owners: %w", core.ErrInvalid)
		}
		var gs []MailboxGrant
		if err := tx.Where("mailbox_id = ?", from).Find(&gs).Error; err != nil {
			return err
		}
		if err := tx.Where("mailbox_id = ?", to).Delete(&MailboxGrant{}).Error; err != nil {
			return err
		}
		// And its \Seen mode.
		var modes []seenSetting
		if err := tx.Where("mailbox_id = ?", from).Find(&modes).Error; err != nil {
			return err
		}
		for _, m := range modes {
			m.MailboxID = to
			if err := tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(&m).Error; err != nil {
				return err
			}
		}
		for _, g := range gs {
			g.MailboxID = to
			if err := tx.Create(&g).Error; err != nil {
				return err
			}
			tx.publish(Event{Kind: MailboxesChanged, UserID: g.GranteeID, MailboxID: to})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("copy the ACL of mailbox %d to %d: %w", from, to, err)
	}
	return nil
}

// deleteMailboxACLTx removes the grants on a mailbox that goes away.
func deleteMailboxACLTx(tx *writeTx, mailboxID int64) error {
	if err := deleteMailboxSeenTx(tx, mailboxID); err != nil {
		return err
	}
	return tx.Where("mailbox_id = ?", mailboxID).Delete(&MailboxGrant{}).Error
}

// deleteUserACLTx removes the grants of and to a user that goes away.
func deleteUserACLTx(tx *gorm.DB, userID int64) error {
	if err := tx.Where("owner_id = ? OR grantee_id = ?", userID, userID).Delete(&MailboxGrant{}).Error; err != nil {
		return err
	}
	// The user's own \Seen states, and those of others in the user's
	// mailboxes (gone already).
	if err := tx.Where("user_id = ? OR mailbox_id NOT IN (SELECT id FROM mailboxes)", userID).Delete(&privateSeen{}).Error; err != nil {
		return err
	}
	if err := tx.Where("mailbox_id NOT IN (SELECT id FROM mailboxes)").Delete(&seenSetting{}).Error; err != nil {
		return err
	}
	return tx.Where("user_id = ?", userID).Delete(&sharedAccount{}).Error
}
