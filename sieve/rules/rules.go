// Package rules turns the simple rules of the dashboard's rule editor
// ("when From/To/Subject contains … move to folder / mark as read /
// forward to / delete", and "Away: reply with … from … to …") into a
// Sieve script, and reads such a script back.
//
// A generated script carries its rule set as JSON in a comment. Parse
// gives the rule set back only if the script is exactly what Generate
// writes for it, so a script edited by hand (in Thunderbird, Roundcube or
// the dashboard's text view) is never misread: the editor shows it as text.
package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/yubinmail/yubin/core"
)

// Fields a condition can look at.
const (
	FieldFrom    = "from"    // the From field, name and address
	FieldTo      = "to"      // the To and Cc fields
	FieldSubject = "subject" // the Subject field
	// FieldDetail is the subaddress detail of the envelope recipient
	// (RFC 5233): Value "newsletter" matches mail to ann+newsletter@. It
	// is an exact (case-insensitive) match, not "contains".
	FieldDetail = "detail"
)

// Kinds of action.
const (
	ActionMove     = "move"      // file into Folder (created if missing)
	ActionMarkRead = "mark_read" // set \Seen on the stored copy
	ActionForward  = "forward"   // redirect to Address; KeepCopy keeps one here
	ActionDelete   = "delete"    // discard
)

// Condition is "Field contains Value" (case-insensitive); for FieldDetail,
// "the recipient's detail is Value".
type Condition struct {
	Field string `json:"field"`
	Value string `json:"value"`
}

// Action is one thing a rule does.
type Action struct {
	Kind     string `json:"kind"`
	Folder   string `json:"folder,omitempty"`
	Address  string `json:"address,omitempty"`
	KeepCopy bool   `json:"keep_copy,omitempty"`
}

// Rule applies its actions to messages meeting its conditions: all of them
// when MatchAll is set, else any of them.
type Rule struct {
	Name       string      `json:"name,omitempty"`
	Conditions []Condition `json:"conditions"`
	MatchAll   bool        `json:"match_all,omitempty"`
	Actions    []Action    `json:"actions"`
	// Stop skips the later rules for a message this rule matched.
	Stop bool `json:"stop,omitempty"`
}

// Away is the vacation auto-reply. Start and End are dates (YYYY-MM-DD,
// in the server's time zone) bounding when it replies; empty means open.
type Away struct {
	Subject string `json:"subject,omitempty"`
	Message string `json:"message"`
	Start   string `json:"start,omitempty"`
	End     string `json:"end,omitempty"`
	// Days between two replies to the same sender (default 7).
	Days int `json:"days,omitempty"`
}

// RuleSet is what the editor edits.
type RuleSet struct {
	Rules []Rule `json:"rules"`
	Away  *Away  `json:"away,omitempty"`
}

// marker starts the comment line that holds the rule set.
const marker = "# yubin-rules: "

// Generate writes the Sieve script for a rule set. It checks the rule set
// and returns an error naming the first problem.
func Generate(rs RuleSet) (string, error) {
	if err := rs.check(); err != nil {
		return "", err
	}
	js, err := json.Marshal(rs)
	if err != nil {
		return "", fmt.Errorf("rules: %w", err)
	}
	var b strings.Builder
	b.WriteString("# Written by Yubin's rule editor. A script edited by hand is shown as text there.\n")
	b.WriteString(marker + string(js) + "\n")
	if rs.usesDetail() {
		b.WriteString(`require ["fileinto", "imap4flags", "mailbox", "copy", "vacation", "date", "relational", "envelope", "subaddress"];` + "\n")
	} else {
		b.WriteString(`require ["fileinto", "imap4flags", "mailbox", "copy", "vacation", "date", "relational"];` + "\n")
	}
	if a := rs.Away; a != nil {
		writeAway(&b, a)
	}
	for _, r := range rs.Rules {
		writeRule(&b, r)
	}
	return b.String(), nil
}

// Parse returns the rule set of a script Generate wrote. ok is false for
// any other script, including a generated one edited afterwards.
func Parse(script string) (rs RuleSet, ok bool) {
	script = strings.ReplaceAll(script, "\r\n", "\n")
	i := strings.Index(script, "\n"+marker)
	if i < 0 {
		return RuleSet{}, false
	}
	line := script[i+1+len(marker):]
	if j := strings.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	if err := json.Unmarshal([]byte(line), &rs); err != nil {
		return RuleSet{}, false
	}
	again, err := Generate(rs)
	if err != nil || again != script {
		return RuleSet{}, false
	}
	return rs, true
}

// usesDetail reports whether a condition looks at the subaddress detail,
// which needs the envelope and subaddress extensions.
func (rs RuleSet) usesDetail() bool {
	for _, r := range rs.Rules {
		for _, c := range r.Conditions {
			if c.Field == FieldDetail {
				return true
			}
		}
	}
	return false
}

// check validates a rule set.
func (rs RuleSet) check() error {
	if len(rs.Rules) > 500 {
		return errors.New("rules: at most 500 rules")
	}
	for i, r := range rs.Rules {
		where := fmt.Sprintf("rule %d", i+1)
		if r.Name != "" {
			where += fmt.Sprintf(" (%s)", r.Name)
		}
		if !oneLine(r.Name) {
			return fmt.Errorf("%s: the name must be one line", where)
		}
		if len(r.Conditions) == 0 || len(r.Actions) == 0 {
			return fmt.Errorf("%s: needs at least one condition and one action", where)
		}
		for _, c := range r.Conditions {
			switch c.Field {
			case FieldFrom, FieldTo, FieldSubject, FieldDetail:
			default:
				return fmt.Errorf("%s: unknown field %q", where, c.Field)
			}
			if c.Value == "" || !oneLine(c.Value) {
				return fmt.Errorf("%s: the %s condition needs a one-line text", where, c.Field)
			}
		}
		for _, a := range r.Actions {
			switch a.Kind {
			case ActionMove:
				if strings.TrimSpace(a.Folder) == "" || !oneLine(a.Folder) {
					return fmt.Errorf("%s: move needs a folder", where)
				}
			case ActionForward:
				if _, err := core.ParseAddress(a.Address); err != nil {
					return fmt.Errorf("%s: forward to %q: %w", where, a.Address, err)
				}
			case ActionMarkRead, ActionDelete:
			default:
				return fmt.Errorf("%s: unknown action %q", where, a.Kind)
			}
		}
	}
	if a := rs.Away; a != nil {
		if strings.TrimSpace(a.Message) == "" {
			return errors.New("away: the reply needs a message")
		}
		if !oneLine(a.Subject) {
			return errors.New("away: the subject must be one line")
		}
		for _, d := range []string{a.Start, a.End} {
			if _, err := time.Parse("2006-01-02", d); d != "" && err != nil {
				return fmt.Errorf("away: %q is not a date (YYYY-MM-DD)", d)
			}
		}
		if a.Start != "" && a.End != "" && a.End < a.Start {
			return errors.New("away: the end is before the start")
		}
		if a.Days < 0 || a.Days > 365 {
			return errors.New("away: days must be between 1 and 365")
		}
	}
	return nil
}

func oneLine(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) })
}

// quote writes s as a Sieve quoted string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func writeAway(b *strings.Builder, a *Away) {
	var conds []string
	if a.Start != "" {
		conds = append(conds, `currentdate :value "ge" "date" `+quote(a.Start))
	}
	if a.End != "" {
		conds = append(conds, `currentdate :value "le" "date" `+quote(a.End))
	}
	cmd := "vacation"
	if a.Days > 0 {
		cmd += fmt.Sprintf(" :days %d", a.Days)
	}
	if a.Subject != "" {
		cmd += " :subject " + quote(a.Subject)
	}
	cmd += " " + quote(strings.ReplaceAll(a.Message, "\r\n", "\n")) + ";"
	b.WriteString("# away\n")
	if len(conds) == 0 {
		b.WriteString(cmd + "\n")
		return
	}
	b.WriteString("if allof (" + strings.Join(conds, ", ") + ") {\n    " + cmd + "\n}\n")
}

func writeRule(b *strings.Builder, r Rule) {
	if r.Name != "" {
		b.WriteString("# " + r.Name + "\n")
	}
	var tests []string
	for _, c := range r.Conditions {
		if c.Field == FieldDetail {
			tests = append(tests, `envelope :detail :is "to" `+quote(c.Value))
			continue
		}
		header := quote(c.Field)
		if c.Field == FieldTo {
			header = `["to", "cc"]`
		}
		tests = append(tests, `header :contains `+header+` `+quote(c.Value))
	}
	test := tests[0]
	if len(tests) > 1 {
		op := "anyof"
		if r.MatchAll {
			op = "allof"
		}
		test = op + " (" + strings.Join(tests, ", ") + ")"
	}
	b.WriteString("if " + test + " {\n")
	// Flags first, so that the stored copy gets them.
	for _, a := range r.Actions {
		if a.Kind == ActionMarkRead {
			b.WriteString("    addflag \"\\\\Seen\";\n")
		}
	}
	for _, a := range r.Actions {
		switch a.Kind {
		case ActionMove:
			b.WriteString("    fileinto :create " + quote(a.Folder) + ";\n")
		case ActionForward:
			if a.KeepCopy {
				b.WriteString("    redirect :copy " + quote(a.Address) + ";\n")
			} else {
				b.WriteString("    redirect " + quote(a.Address) + ";\n")
			}
		case ActionDelete:
			b.WriteString("    discard;\n")
		}
	}
	if r.Stop {
		b.WriteString("    stop;\n")
	}
	b.WriteString("}\n")
}
