package fraud

import "strings"

// DefaultDisposableDomains is a small built-in list of well-known throwaway
// mail providers; deployments extend it through configuration because such
// lists go stale quickly.
var DefaultDisposableDomains = []string{
	"10minutemail.com", "discard.email", "dispostable.com", "getnada.com",
	"guerrillamail.com", "guerrillamail.net", "mailinator.com", "maildrop.cc",
	"mailnesia.com", "mintemail.com", "mohmal.com", "sharklasers.com",
	"temp-mail.org", "tempmail.com", "tempmailo.com", "throwawaymail.com",
	"trashmail.com", "yopmail.com", "emailondeck.com", "fakeinbox.com",
}

// DomainList is a set of e-mail domains matched with their subdomains
// ("eu.mailinator.com" matches "mailinator.com"), because disposable
// providers hand out subdomains freely.
type DomainList struct {
	set map[string]struct{}
}

// NewDomainList builds a list; entries are trimmed, lower-cased and
// stripped of a leading "@" or "." and a trailing ".".
func NewDomainList(domains ...string) DomainList {
	l := DomainList{set: make(map[string]struct{}, len(domains))}
	for _, d := range domains {
		if d = canonicalDomain(d); d != "" {
			l.set[d] = struct{}{}
		}
	}
	return l
}

func canonicalDomain(d string) string {
	d = strings.ToLower(strings.TrimSpace(d))
	d = strings.TrimLeft(d, "@.")
	return strings.TrimSuffix(d, ".")
}

// Len is the number of listed domains.
func (l DomainList) Len() int { return len(l.set) }

// Match reports whether domain or one of its parent domains is listed and
// returns the listed entry that matched.
func (l DomainList) Match(domain string) (string, bool) {
	d := canonicalDomain(domain)
	for d != "" {
		if _, ok := l.set[d]; ok {
			return d, true
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			break
		}
		d = d[i+1:]
	}
	return "", false
}
