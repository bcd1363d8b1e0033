package outbound

import (
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/yubinmail/yubin/mta/queue"
)

// job is one claimed message for the recipients of one domain.
type job struct {
	msgID   int64
	from    string // "" is the null sender
	created time.Time
	expires time.Time // zero if unknown
	domain  string
	rcpts   []rcpt
	msg     *queue.Message
	// deadline ends the delivery (in real time) well before the lease.
	deadline time.Time
}

// rcpt is one recipient of a job.
type rcpt struct {
	id       int64
	addr     string
	attempts int // failed attempts so far
}

// result is the outcome of one attempt for one recipient.
type result struct {
	rcpt      rcpt
	delivered bool
	permanent bool
	code      int    // SMTP reply code, ours if the failure was local
	status    string // enhanced status code, "5.1.1"
	diag      string // the reply or error, one line
	remote    string // the host that answered, if any
	retryNow  bool   // a temporary failure to retry at once
}

// failure describes why an attempt did not deliver.
type failure struct {
	permanent bool
	code      int
	status    string
	text      string
	remote    string
}

// temporary failures of our own (no reply from a peer).
func tempFailure(text string) failure {
	return failure{code: 451, status: "4.4.1", text: text}
}

// replyFailure turns a reply of a peer into a failure.
func replyFailure(e *smtp.SMTPError, remote string) failure {
	f := failure{permanent: e.Code >= 500, code: e.Code, remote: remote}
	class := 4
	if f.permanent {
		class = 5
	}
	f.status = fmt.Sprintf("%d.0.0", class)
	text := strings.Join(strings.Fields(e.Message), " ")
	f.text = fmt.Sprintf("%d %s", e.Code, text)
	if ec := e.EnhancedCode; ec != smtp.EnhancedCodeNotSet && ec != smtp.NoEnhancedCode {
		enh := fmt.Sprintf("%d.%d.%d", ec[0], ec[1], ec[2])
		if ec[0] == class {
			f.status = enh
		}
		f.text = fmt.Sprintf("%d %s %s", e.Code, enh, text)
	}
	return f
}

func (f failure) result(r rcpt) result {
	return result{rcpt: r, permanent: f.permanent, code: f.code, status: f.status, diag: f.text, remote: f.remote}
}

func (f failure) Error() string { return f.text }
