package spam

import (
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-msgauth/authres"
)

// Rule names, as they appear in X-Spam-Status and Evidence.
const (
	RuleMissingDate    = "MISSING_DATE"
	RuleMissingMID     = "MISSING_MID"
	RuleFromInvalid    = "FROM_INVALID"
	RuleFromForged     = "FROM_FORGED"
	RuleHTMLOnly       = "HTML_ONLY"
	RuleSuspiciousLink = "SUSPICIOUS_LINK"
	RuleSubjectCaps    = "SUBJ_ALL_CAPS"
	RuleBadAttachment  = "BAD_ATTACHMENT"
	RuleSPFFail        = "SPF_FAIL"
	RuleDKIMFail       = "DKIM_FAIL"
	RuleDMARCFail      = "DMARC_FAIL"
	RuleDNSBL          = "RCVD_IN_DNSBL"
)

// Rule scores.
const (
	scoreMissingDate    = 1.0
	scoreMissingMID     = 1.0
	scoreFrom           = 2.0
	scoreHTMLOnly       = 1.0
	scoreSuspiciousLink = 1.5
	maxSuspiciousLinks  = 3
	scoreSubjectCaps    = 1.5
	scoreBadAttachment  = 5.0
	scoreSPFFail        = 2.0
	scoreDKIMFail       = 1.5
	scoreDMARCFail      = 3.0
	scoreDNSBL          = 3.0
)

// Hit is a rule that matched a message.
type Hit struct {
	Rule   string
	Score  float64
	Detail string
}

// badExtensions are attachment types that run code when opened.
var badExtensions = map[string]bool{
	".exe": true, ".scr": true, ".js": true, ".vbs": true, ".bat": true,
	".cmd": true, ".com": true, ".pif": true, ".jar": true,
}

// scoreRules runs the rules that look at the message itself. hostname is
// our own host name, whose Authentication-Results are trusted ("" trusts
// none).
func scoreRules(pm *parsedMessage, hostname string) []Hit {
	var hits []Hit
	h := pm.Header
	if strings.TrimSpace(h.Get("Date")) == "" {
		hits = append(hits, Hit{RuleMissingDate, scoreMissingDate, "no Date header field"})
	}
	if strings.TrimSpace(h.Get("Message-Id")) == "" {
		hits = append(hits, Hit{RuleMissingMID, scoreMissingMID, "no Message-ID header field"})
	}
	if hit, ok := fromRule(pm); ok {
		hits = append(hits, hit)
	}
	if pm.HasHTML && !pm.HasPlain {
		hits = append(hits, Hit{RuleHTMLOnly, scoreHTMLOnly, "HTML without a plain text alternative"})
	}
	hits = append(hits, linkRules(pm.Links)...)
	if hit, ok := subjectCapsRule(pm.Subject); ok {
		hits = append(hits, hit)
	}
	if hit, ok := attachmentRule(pm.Attachments); ok {
		hits = append(hits, hit)
	}
	hits = append(hits, authResultsRules(h, hostname)...)
	return hits
}

var addrInNameRe = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@([A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+)`)

// fromRule checks that From parses, and that its display names do not show
// an address of another domain than the real one.
func fromRule(pm *parsedMessage) (Hit, bool) {
	if strings.TrimSpace(pm.Header.Get("From")) == "" {
		return Hit{RuleFromInvalid, scoreFrom, "no From header field"}, true
	}
	addrs, err := pm.addressList("From")
	if err != nil || len(addrs) == 0 {
		return Hit{RuleFromInvalid, scoreFrom, "unparsable From header field"}, true
	}
	for _, a := range addrs {
		at := strings.LastIndexByte(a.Address, '@')
		if at < 0 {
			return Hit{RuleFromInvalid, scoreFrom, fmt.Sprintf("From address %q has no domain", a.Address)}, true
		}
		domain := strings.ToLower(a.Address[at+1:])
		if strings.IndexByte(a.Name, '@') < 0 {
			continue // addrInNameRe needs an '@': save running it
		}
		for _, m := range addrInNameRe.FindAllStringSubmatch(a.Name, 5) {
			if !sameSite(strings.ToLower(m[1]), domain) {
				return Hit{RuleFromForged, scoreFrom, fmt.Sprintf("display name shows %s, address is %s", m[0], a.Address)}, true
			}
		}
	}
	return Hit{}, false
}

// sameSite reports whether two host names are equal, or one is a subdomain
// of the other (ignoring a leading "www.").
func sameSite(a, b string) bool {
	a = strings.TrimSuffix(strings.TrimPrefix(a, "www."), ".")
	b = strings.TrimSuffix(strings.TrimPrefix(b, "www."), ".")
	return a == b || strings.HasSuffix(a, "."+b) || strings.HasSuffix(b, "."+a)
}

// hostInTextRe matches a link text that is a URL or a host name, with or
// without a scheme ("https://bank.example/login", "www.bank.example"); text
// that merely contains one ("Node.js docs") does not match.
var hostInTextRe = regexp.MustCompile(`(?i)^(?:[a-z][a-z0-9+.\-]*://)?(?:[^@\s/]+@)?((?:[a-z0-9\-]+\.)+[a-z]{2,63}|\d{1,3}(?:\.\d{1,3}){3})(?::\d+)?(?:[/?#]\S*)?$`)

// linkRules flags links to raw IP addresses and HTML links whose text shows
// another host than the one they lead to.
func linkRules(links []link) []Hit {
	var hits []Hit
	for _, l := range links {
		if len(hits) >= maxSuspiciousLinks {
			break
		}
		detail := ""
		if isIPHost(l.Host) {
			detail = "link to a raw IP address: " + l.Host
		} else if l.Text != "" && strings.IndexByte(l.Text, '.') >= 0 { // hostInTextRe needs a '.'
			if m := hostInTextRe.FindStringSubmatch(strings.TrimSpace(l.Text)); m != nil {
				shown := strings.ToLower(m[1])
				if !sameSite(shown, l.Host) {
					detail = fmt.Sprintf("link text shows %s, leads to %s", shown, l.Host)
				}
			}
		}
		// Each detail once; there are at most maxSuspiciousLinks hits to
		// look through.
		if detail == "" || slices.ContainsFunc(hits, func(h Hit) bool { return h.Detail == detail }) {
			continue
		}
		hits = append(hits, Hit{RuleSuspiciousLink, scoreSuspiciousLink, detail})
	}
	return hits
}

// isIPHost reports whether a URL host is an IP address, including the
// decimal and hexadecimal forms browsers accept ("3232235777", "0xC0A80001").
func isIPHost(host string) bool {
	host = strings.Trim(host, "[]")
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if host == "" {
		return false
	}
	if strings.HasPrefix(host, "0x") {
		host = host[2:]
		return host != "" && strings.Trim(host, "0123456789abcdef") == ""
	}
	return strings.Trim(host, "0123456789") == ""
}

// subjectCapsRule flags a subject of at least 10 letters, more than 80% of
// them upper case.
func subjectCapsRule(subject string) (Hit, bool) {
	letters, upper := 0, 0
	for _, r := range subject {
		if unicode.IsLetter(r) {
			letters++
			if unicode.IsUpper(r) {
				upper++
			}
		}
	}
	if letters >= 10 && upper*10 > letters*8 {
		return Hit{RuleSubjectCaps, scoreSubjectCaps, fmt.Sprintf("subject is %d%% upper case", upper*100/letters)}, true
	}
	return Hit{}, false
}

// attachmentRule flags attached programs and scripts, also inside zip files.
func attachmentRule(atts []attachment) (Hit, bool) {
	var bad []string
	for _, a := range atts {
		if badExtensions[strings.ToLower(path.Ext(a.Name))] {
			bad = append(bad, a.Name)
		}
	}
	if len(bad) == 0 {
		return Hit{}, false
	}
	if len(bad) > 5 {
		bad = append(bad[:5], "...")
	}
	return Hit{RuleBadAttachment, scoreBadAttachment, "executable attachment: " + strings.Join(bad, ", ")}, true
}

// authResultsRules scores the failures reported in our own
// Authentication-Results fields: each method counts once, and a DKIM
// failure only if no signature passed.
func authResultsRules(h textproto.Header, hostname string) []Hit {
	if hostname == "" {
		return nil
	}
	var spfFail, dkimFail, dkimPass, dmarcFail bool
	for _, v := range h.Values("Authentication-Results") {
		id, results, _ := authres.Parse(stripComments(v))
		if !strings.EqualFold(strings.TrimSuffix(id, "."), strings.TrimSuffix(hostname, ".")) {
			continue
		}
		for _, r := range results {
			switch r := r.(type) {
			case *authres.SPFResult:
				spfFail = spfFail || r.Value == authres.ResultFail
			case *authres.DKIMResult:
				dkimFail = dkimFail || r.Value == authres.ResultFail
				dkimPass = dkimPass || r.Value == authres.ResultPass
			case *authres.DMARCResult:
				dmarcFail = dmarcFail || r.Value == authres.ResultFail
			}
		}
	}
	var hits []Hit
	if spfFail {
		hits = append(hits, Hit{RuleSPFFail, scoreSPFFail, "spf=fail"})
	}
	if dkimFail && !dkimPass {
		hits = append(hits, Hit{RuleDKIMFail, scoreDKIMFail, "dkim=fail"})
	}
	if dmarcFail {
		hits = append(hits, Hit{RuleDMARCFail, scoreDMARCFail, "dmarc=fail"})
	}
	return hits
}

// stripComments removes RFC 5322 comments (nested parentheses, outside
// quoted strings), which the authres parser does not understand, and
// empties quoted strings: the parser splits at ";" and spaces even inside
// them, so that a quoted reason could otherwise pass for a result.
func stripComments(s string) string {
	var b strings.Builder
	depth, quoted, escaped := 0, false, false
	for _, r := range s {
		switch {
		case escaped:
			escaped = false
			continue
		case r == '\\' && (quoted || depth > 0):
			escaped = true
			continue
		case quoted:
			if r == '"' {
				quoted = false
				b.WriteRune(r)
			}
			continue
		case r == '"' && depth == 0:
			quoted = true
		case r == '(':
			depth++
			continue
		case r == ')' && depth > 0:
			depth--
			if depth == 0 {
				b.WriteByte(' ')
			}
			continue
		}
		if depth == 0 {
			b.WriteRune(r)
		}
	}
	return b.String()
}
