package outbound

import (
	"context"
	"log/slog"
	"strings"

	"github.com/yubinmail/yubin/core/mtasts"
)

// TLSPolicy finds the MTA-STS policy (RFC 8461) of a recipient domain:
// nil when it has none. *mtasts.Client is one.
type TLSPolicy interface {
	Lookup(ctx context.Context, domain string) *mtasts.Policy
}

// applyTLSPolicy applies the recipient domain's MTA-STS policy to the
// targets route found (RFC 8461 §4 and §5). Under "enforce" only the MX
// hosts the policy lists remain, each requiring STARTTLS with a
// certificate valid for its name; if none remains the message is deferred.
// Under "testing" every target stays as it was and what enforce would have
// refused is logged. The smarthost and address literals have no policy.
func (w *Worker) applyTLSPolicy(ctx context.Context, domain string, targets []target, log *slog.Logger) ([]target, error) {
	if w.opts.TLSPolicy == nil || w.opts.Smarthost != "" || strings.HasPrefix(domain, "[") {
		return targets, nil
	}
	p := w.opts.TLSPolicy.Lookup(ctx, domain)
	if p == nil || p.Mode == mtasts.ModeNone {
		return targets, nil
	}
	enforce := p.Mode == mtasts.ModeEnforce
	out := make([]target, 0, len(targets))
	for _, t := range targets {
		if !p.Matches(t.name) {
			if enforce {
				log.Info("MTA-STS: MX host not in the domain's policy; not used", "mx", t.name)
				continue
			}
			log.Warn("MTA-STS testing: MX host not in the domain's policy (delivering anyway; enforce would not)", "mx", t.name)
		}
		if enforce {
			t.stsEnforce = true
		} else {
			t.stsTesting = true
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, tempFailure("451 4.7.5 no MX host of " + domain + " matches its MTA-STS policy (RFC 8461, mode enforce)")
	}
	return out, nil
}
