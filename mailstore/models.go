package mailstore

import "time"

// Domain is a mail domain Yubin receives mail for.
type Domain struct {
	ID        int64  `gorm:"primaryKey"`
	Name      string `gorm:"size:253;not null;uniqueIndex"`
	Enabled   bool   `gorm:"not null"`
	CreatedAt time.Time

	// Settings (see UpdateDomain); 0 means none or unlimited.
	DefaultQuotaBytes int64 `gorm:"not null;default:0"` // given to new users created without a quota
	MaxQuotaBytes     int64 `gorm:"not null;default:0"` // largest quota a user may have
	QuotaBytes        int64 `gorm:"not null;default:0"` // for all the domain's mail together
	MaxUsers          int64 `gorm:"not null;default:0"`
	// The inbound filter chain's settings for mail to the domain (see
	// domain_settings.go); null means the server's.
	DomainFilterSettings
	// QuotaWarningPercents are the levels of use, in percent of a user's
	// quota, at which the user gets a warning (see quota_warning.go);
	// empty: no warnings.
	QuotaWarningPercents Percents `gorm:"column:quota_warning_percents;type:varchar(100);not null;default:'80,95'"`
	// Language is the language of the messages the server writes to the
	// domain's users (one of Languages); "" means English.
	Language string `gorm:"size:16;not null;default:''"`

	// Usage: the sums over the domain's users, kept in step with theirs.
	UsedBytes    int64 `gorm:"not null;default:0"`
	UsedMessages int64 `gorm:"not null;default:0"`
	// UsageCounted is false for a domain that predates the usage columns
	// until its usage has been counted from its users' (see domain_settings.go).
	UsageCounted bool `gorm:"not null;default:false"`
	// RequireTwoFactor makes a second factor compulsory for the domain's
	// users (see SecurityPolicy for the server's).
	RequireTwoFactor bool `gorm:"not null;default:false"`
	// EncryptionMode is how its users' mail is encrypted at rest:
	// EncryptionServer, EncryptionUser, or "" for the server's mode (see
	// userkeys.go).
	EncryptionMode string `gorm:"size:16;not null;default:''"`
	// RecoveryPublicKey is the public half of the domain's recovery key
	// (user-key mode); "": none.
	RecoveryPublicKey string `gorm:"size:100;not null;default:''"`
}

// User is a mail account: an address with a password, a quota and mailboxes.
type User struct {
	ID            int64  `gorm:"primaryKey"`
	DomainID      int64  `gorm:"not null;index"`
	Address       string `gorm:"size:320;not null;uniqueIndex"`
	DisplayName   string `gorm:"size:200;not null;default:''"`
	PasswordHash  string `gorm:"size:200;not null"`
	QuotaBytes    int64  `gorm:"not null"` // 0 means unlimited
	QuotaMessages int64  `gorm:"not null"` // 0 means unlimited
	UsedBytes     int64  `gorm:"not null"`
	UsedMessages  int64  `gorm:"not null"`
	Enabled       bool   `gorm:"not null"`
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// CredentialVersion moves on whenever the password changes or the
	// account is disabled: API sessions issued under an older one no
	// longer work.
	CredentialVersion int64 `gorm:"not null;default:0"`
	// Language is the language of the messages the server writes to the
	// user (one of Languages); "" means the domain's.
	Language string `gorm:"size:16;not null;default:''"`
	// QuotaWarningPercent is the highest of the domain's warning levels
	// the usage has reached and the user was warned of; 0: none (see
	// quota_warning.go).
	QuotaWarningPercent int `gorm:"not null;default:0"`
	// SecondFactor is set while the user has a second factor for signing
	// in (see totp.go): mail protocols then take app passwords only.
	SecondFactor bool `gorm:"not null;default:false"`
}

// Mailbox is one folder of a user.
type Mailbox struct {
	ID            int64  `gorm:"primaryKey"`
	UserID        int64  `gorm:"not null;uniqueIndex:idx_mailbox_user_name,priority:1"`
	Name          string `gorm:"size:1000;not null;uniqueIndex:idx_mailbox_user_name,priority:2"`
	SpecialUse    string `gorm:"size:20;not null;default:''"` // \Sent, \Junk, ... (RFC 6154) or ""
	UIDValidity   uint32 `gorm:"column:uid_validity;not null"`
	UIDNext       uint32 `gorm:"column:uid_next;not null"`
	HighestModSeq int64  `gorm:"column:highest_modseq;not null"`
	// Subscribed is the flag of the time before the subscription list
	// (see ListSubscriptions); it only seeds that list once.
	Subscribed bool `gorm:"not null"`
	CreatedAt  time.Time
	// ObjectID is the mailbox's MAILBOXID (RFC 8474): random, opaque,
	// kept across renames and never reused.
	ObjectID string `gorm:"column:object_id;size:40;not null;default:''"`
}

// messageRow is a message's metadata as stored. Several rows may share one
// body (one delivery to several recipients, COPY).
type messageRow struct {
	ID           int64     `gorm:"primaryKey"`
	MailboxID    int64     `gorm:"not null;uniqueIndex:idx_message_mailbox_uid,priority:1"`
	UID          uint32    `gorm:"not null;uniqueIndex:idx_message_mailbox_uid,priority:2"`
	UserID       int64     `gorm:"not null;index"`
	BlobKey      string    `gorm:"size:64;not null;index"`
	Size         int64     `gorm:"not null"`
	InternalDate time.Time `gorm:"not null"`
	ModSeq       int64     `gorm:"not null"`
	Flags        string    `gorm:"size:2000;not null;default:''"` // canonical, space-separated
	Seen         bool      `gorm:"not null"`                      // mirrors \Seen in Flags, for counting
	Deleted      bool      `gorm:"not null"`                      // mirrors \Deleted in Flags
	// SaveDate is when the message was added to this mailbox (SAVEDATE,
	// RFC 8514); null only in rows older than the column, until the store
	// fills it with InternalDate when it opens.
	SaveDate *time.Time `gorm:"column:save_date"`
}

func (messageRow) TableName() string { return "messages" }

// counter is a named, database-held sequence (UIDVALIDITY values).
type counter struct {
	Name  string `gorm:"primaryKey;size:50"`
	Value int64  `gorm:"not null"`
}

func allModels() []any {
	models := []any{&Domain{}, &User{}, &Mailbox{}, &messageRow{}, &counter{}}
	models = append(models, aliasModels()...)
	models = append(models, adminModels()...)
	models = append(models, &QuarantinedMessage{})
	models = append(models, subscriptionModels()...)
	models = append(models, metadataModels()...)
	models = append(models, urlAuthModels()...)
	models = append(models, aclModels()...)
	models = append(models, sendAsModels()...)
	models = append(models, sieveModels()...)
	models = append(models, accountSecurityModels()...)
	models = append(models, threadModels()...)
	models = append(models, importModels()...)
	models = append(models, userKeyModels()...)
	models = append(models, inlineModels()...)
	models = append(models, expungedModels()...)
	models = append(models, otherOwnersModels()...)
	models = append(models, headerCacheModels()...)
	return models
}
