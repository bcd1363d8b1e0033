package mailstore

import (
	"crypto/rand"
	"database/sql/driver"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/yubinmail/yubin/core"
	yubindb "github.com/yubinmail/yubin/internal/db"
)

// Quota warnings. When a change adds mail to a user's mailboxes (delivery,
// APPEND, COPY; not MOVE, which adds nothing) and their usage, the higher
// of bytes and messages in percent of the quota, reaches one of the
// domain's warning levels (Domain.QuotaWarningPercents, 80 and 95 by
// default) above the one they were last warned of, the same transaction
// puts one message from the domain's postmaster into their INBOX, outside
// the quota, and records the level (User.QuotaWarningPercent): the warning
// and the record commit together, so a restart neither loses nor repeats
// it. Passing several levels at once gives one message, for the highest.
// When usage falls below the recorded level (EXPUNGE, deletion, a raised
// quota), the record comes down to the highest level still reached, so the
// next crossing warns again. The text is in the user's language (the
// account's, else the domain's, else English).

// maxQuotaWarningLevels bounds the warning levels of a domain.
const maxQuotaWarningLevels = 5

// DefaultQuotaWarningPercents returns the warning levels of a new domain.
func DefaultQuotaWarningPercents() Percents { return Percents{80, 95} }

// Percents is a list of percentages, stored as "80,95" and written in
// JSON as [80,95].
type Percents []int

// Value stores the list as comma-separated numbers.
func (p Percents) Value() (driver.Value, error) {
	parts := make([]string, len(p))
	for i, v := range p {
		parts[i] = strconv.Itoa(v)
	}
	return strings.Join(parts, ","), nil
}

// Scan reads the stored list.
func (p *Percents) Scan(v any) error {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case []byte:
		s = string(v)
	case nil:
	default:
		return fmt.Errorf("percents: cannot read %T", v)
	}
	out := Percents{}
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return fmt.Errorf("percents %q: %w", s, err)
		}
		out = append(out, n)
	}
	*p = out
	return nil
}

// MarshalJSON writes the list, [] when empty.
func (p Percents) MarshalJSON() ([]byte, error) {
	if p == nil {
		return []byte("[]"), nil
	}
	return json.Marshal([]int(p))
}

// Normalized checks that every level is between 1 and 100 and that there
// are at most 5, and returns them sorted without duplicates.
func (p Percents) Normalized() (Percents, error) {
	out := slices.Clone(p)
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > maxQuotaWarningLevels {
		return nil, fmt.Errorf("at most %d quota warning levels: %w", maxQuotaWarningLevels, core.ErrInvalid)
	}
	for _, v := range out {
		if v < 1 || v > 100 {
			return nil, fmt.Errorf("quota warning level %d: must be between 1 and 100: %w", v, core.ErrInvalid)
		}
	}
	if out == nil {
		out = Percents{}
	}
	return out, nil
}

// level returns the highest of the levels that pct reaches, or 0.
func (p Percents) level(pct float64) int {
	lvl := 0
	for _, v := range p {
		if pct >= float64(v) {
			lvl = max(lvl, v)
		}
	}
	return lvl
}

// Languages are the languages the server writes its messages to users in.
func Languages() []string { return []string{"en", "ja"} }

// CheckLanguage refuses a language the server cannot write in; "" (the
// default) is accepted.
func CheckLanguage(lang string) error {
	if lang != "" && !slices.Contains(Languages(), lang) {
		return fmt.Errorf("language %q: want one of %s, or none: %w", lang, strings.Join(Languages(), ", "), core.ErrInvalid)
	}
	return nil
}

// quotaUsage is a user's quota and usage as a change left them, with the
// warning level recorded.
type quotaUsage struct {
	quotaBytes, quotaMessages int64
	usedBytes, usedMessages   int64
	warned                    int
}

// usageColumns are the columns scanUsage reads.
const usageColumns = "quota_bytes, quota_messages, used_bytes, used_messages, quota_warning_percent"

func scanUsage(row yubindb.Row) (quotaUsage, error) {
	var u quotaUsage
	err := row.Scan(&u.quotaBytes, &u.quotaMessages, &u.usedBytes, &u.usedMessages, &u.warned)
	return u, err
}

// percent is the usage in percent of the quota: the higher of bytes and
// messages; 0 without a quota.
func (u quotaUsage) percent() float64 {
	var p float64
	if u.quotaBytes > 0 {
		p = max(p, float64(u.usedBytes)*100/float64(u.quotaBytes))
	}
	if u.quotaMessages > 0 {
		p = max(p, float64(u.usedMessages)*100/float64(u.quotaMessages))
	}
	return p
}

// quotaWarningTx brings the user's warning record in line with the usage
// u a change left: down to the level still reached when usage fell below
// the recorded one, and, when mayWarn (the change added mail or lowered
// the quota), up to a newly reached level with a warning in the INBOX.
func quotaWarningTx(tx *writeTx, userID int64, u quotaUsage, mayWarn bool) error {
	pct := u.percent()
	switch {
	case pct < float64(u.warned): // may come down
	case mayWarn && pct > float64(u.warned): // may go up
	default:
		return nil
	}
	var w quotaWarningInfo
	var levels Percents
	err := tx.Raw("SELECT u.address, u.language, d.name, d.language, d.quota_warning_percents FROM users u JOIN domains d ON d.id = u.domain_id WHERE u.id = ?", userID).
		Row().Scan(&w.address, &w.userLanguage, &w.domain, &w.domainLanguage, &levels)
	if err != nil {
		return fmt.Errorf("quota warning levels of user %d: %w", userID, err)
	}
	lvl := levels.level(pct)
	switch {
	case lvl == u.warned:
		return nil
	case lvl > u.warned && !mayWarn:
		return nil // levels lowered since: the next change that adds mail warns
	case lvl > u.warned:
		w.level, w.usage = lvl, u
		delivered, err := deliverQuotaWarningTx(tx, userID, w)
		if err != nil {
			return err
		}
		if !delivered {
			return nil // not recorded: the next change tries again
		}
	}
	if err := tx.Exec("UPDATE users SET quota_warning_percent = ? WHERE id = ?", lvl, userID).Error; err != nil {
		return fmt.Errorf("record quota warning of user %d: %w", userID, err)
	}
	return nil
}

// quotaWarningInfo is what a warning message says, and to whom.
type quotaWarningInfo struct {
	address, userLanguage  string
	domain, domainLanguage string
	level                  int
	usage                  quotaUsage
}

// deliverQuotaWarningTx puts the warning into the user's INBOX, outside the
// quota, and reports whether it did. A body that cannot be stored is
// logged and reported as not delivered; a failed database statement fails
// the transaction.
func deliverQuotaWarningTx(tx *writeTx, userID int64, w quotaWarningInfo) (bool, error) {
	ctx := tx.Statement.Context
	now := time.Now()
	key, size, err := tx.store.blobs.Put(ctx, newCRLFReader(strings.NewReader(quotaWarningMessage(w, now))))
	if err != nil {
		tx.store.log.Error("storing a quota warning failed; trying again with the next message", "user", w.address, "level", w.level, "err", err)
		return false, nil
	}
	mb, err := deliveryMailbox(tx, userID, Inbox, false)
	if err != nil {
		return false, fmt.Errorf("quota warning for %s: %w", w.address, err)
	}
	tx.quotaWarning = true
	_, err = insertMessages(tx, userID, mb, []messageRow{{BlobKey: key, Size: size, InternalDate: now.UTC().Truncate(time.Second)}}, false, 0)
	tx.quotaWarning = false
	if err != nil {
		return false, fmt.Errorf("quota warning for %s: %w", w.address, err)
	}
	tx.onCommit(func() { tx.store.log.Info("quota warning delivered", "user", w.address, "level", w.level) })
	return true, nil
}

// quotaWarningTexts are the subject and body of a warning per language:
// {addr}, {level}, {pct}, {used}, {quota} are filled in.
func quotaWarningTexts(lang string, messages bool) (from, subject, body string) {
	switch lang {
	case "ja":
		amount := "（{quota}中{used}）"
		if messages {
			amount = "（{quota}通中{used}通）"
		}
		return "ポストマスター", "メールボックスの使用量が{level}%に達しました",
			"メールボックス {addr} の使用量が容量の{pct}%" + amount + "に達しました。\n\n" +
				"容量がいっぱいになると新しいメールを受け取れなくなり、送信元のサーバーがしばらく再送を試みた後、" +
				"配信できなかったことが送信者に通知されます。不要なメールを削除する（ごみ箱も空にする）か、" +
				"管理者に容量の追加を依頼してください。\n\n" +
				"このお知らせは、使用量が{level}%を超えるたびに一度だけ送られます。\n"
	default:
		amount := "{used} of {quota}"
		if messages {
			amount = "{used} of {quota} messages"
		}
		return "Postmaster", "Your mailbox is {level}% full",
			"Your mailbox {addr} has reached {pct}% of its quota: " + amount + ".\n\n" +
				"Once it is full, new mail for you is refused: the senders' servers retry for a while, then tell " +
				"the senders their mail could not be delivered. Please delete mail you no longer need (and empty " +
				"the Trash), or ask your administrator for more space.\n\n" +
				"You get this message once each time your mailbox passes {level}%.\n"
	}
}

// quotaWarningMessage writes the warning as an RFC 5322 message from the
// domain's postmaster.
func quotaWarningMessage(w quotaWarningInfo, now time.Time) string {
	lang := w.userLanguage
	if lang == "" {
		lang = w.domainLanguage
	}
	if CheckLanguage(lang) != nil || lang == "" {
		lang = "en"
	}
	u := w.usage
	byMessages := u.quotaMessages > 0 && (u.quotaBytes == 0 ||
		float64(u.usedMessages)/float64(u.quotaMessages) > float64(u.usedBytes)/float64(u.quotaBytes))
	used, quota := formatBytes(u.usedBytes), formatBytes(u.quotaBytes)
	if byMessages {
		used, quota = strconv.FormatInt(u.usedMessages, 10), strconv.FormatInt(u.quotaMessages, 10)
	}
	from, subject, body := quotaWarningTexts(lang, byMessages)
	fill := strings.NewReplacer("{addr}", w.address, "{level}", strconv.Itoa(w.level),
		"{pct}", strconv.Itoa(int(u.percent())), "{used}", used, "{quota}", quota)
	subject, body = fill.Replace(subject), fill.Replace(body)

	var b strings.Builder
	header := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }
	header("From", encodeWord(from)+" <postmaster@"+w.domain+">")
	header("To", "<"+w.address+">")
	header("Subject", encodeWord(subject))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", "<quota-"+strconv.Itoa(w.level)+"."+rand.Text()+"@"+w.domain+">")
	header("Auto-Submitted", "auto-generated") // RFC 3834: no replies, no vacation answers
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Language", lang)
	body = strings.ReplaceAll(body, "\n", "\r\n")
	if isASCII(body) {
		header("Content-Transfer-Encoding", "7bit")
		b.WriteString("\r\n" + body)
		return b.String()
	}
	header("Content-Transfer-Encoding", "base64")
	b.WriteString("\r\n")
	enc := base64.StdEncoding.EncodeToString([]byte(body))
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	return b.String()
}

// encodeWord returns s as is if it is ASCII, else as RFC 2047 encoded
// words of at most 36 octets of text each (60 characters), one per folded
// line, so that every line stays within 78 characters.
func encodeWord(s string) string {
	if isASCII(s) {
		return s
	}
	var words []string
	for s != "" {
		n := 0
		for _, r := range s {
			if n+utf8.RuneLen(r) > 36 {
				break
			}
			n += utf8.RuneLen(r)
		}
		words = append(words, mime.BEncoding.Encode("utf-8", s[:n]))
		s = s[n:]
	}
	return strings.Join(words, "\r\n ")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// formatBytes writes a size with a binary unit: 8.5 MiB.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	v, i := float64(n), -1
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + []string{"KiB", "MiB", "GiB", "TiB", "PiB"}[i]
}
