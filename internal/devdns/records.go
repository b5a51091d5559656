package devdns

import (
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// TTL is the time to live of every answer: short, so a record changed by a
// test or a developer is seen at once by a caching resolver.
const TTL = 5

// SenderZone makes every name strictly under Zone a mail sender domain
// without adding its records one by one: a TXT query for <name> answers
// SPF, one for _dmarc.<name> answers DMARC. Other names with a label that
// starts with "_" (a DKIM key's <selector>._domainkey.<name>, say) do not
// exist unless added.
type SenderZone struct {
	// Zone is the parent, e.g. "test".
	Zone string
	// SPF is the TXT record of each <name>; empty: none.
	SPF string
	// DMARC is the TXT record of each _dmarc.<name>; empty: none.
	DMARC string
}

// LoopbackSPF authorises every loopback address to send.
const LoopbackSPF = "v=spf1 ip4:127.0.0.0/8 ip6:::1 -all"

// RejectDMARC is a DMARC record with policy reject.
const RejectDMARC = "v=DMARC1; p=reject"

// DevSenderZones are `make dev`'s rules: every name under the reserved
// test names .test and .localhost (RFC 6761) is a sender domain that
// authorises loopback senders and publishes a DMARC record.
func DevSenderZones() []SenderZone {
	return []SenderZone{
		{Zone: "test", SPF: LoopbackSPF, DMARC: RejectDMARC},
		{Zone: "localhost", SPF: LoopbackSPF, DMARC: RejectDMARC},
	}
}

// records is the in-memory record set, safe for concurrent use: tests add
// senders while the relay queries.
type records struct {
	mu sync.RWMutex
	// byName maps a canonical name (lower case, trailing dot) to its RRsets.
	byName map[string]map[uint16][]dns.RR
	// zones are canonical names this server is authoritative for: a name
	// under one without records is NXDOMAIN, never forwarded.
	zones map[string]bool
	rules []SenderZone // Zone canonical
}

func newRecords(rules []SenderZone) (*records, error) {
	r := &records{byName: map[string]map[uint16][]dns.RR{}, zones: map[string]bool{}}
	for _, z := range rules {
		name, err := canonical(z.Zone)
		if err != nil {
			return nil, fmt.Errorf("sender zone: %w", err)
		}
		z.Zone = name
		r.rules = append(r.rules, z)
		r.zones[name] = true
	}
	return r, nil
}

// canonical validates name and returns it lower-cased and fully qualified.
func canonical(name string) (string, error) {
	n := strings.TrimSpace(name)
	if n == "" || n == "." {
		return "", fmt.Errorf("name %q: empty", name)
	}
	if _, ok := dns.IsDomainName(n); !ok {
		return "", fmt.Errorf("name %q: not a domain name", name)
	}
	return dns.CanonicalName(n), nil
}

// under reports whether name is zone or a name below it.
func under(name, zone string) bool {
	return name == zone || strings.HasSuffix(name, "."+zone)
}

func (r *records) addZone(zone string) error {
	name, err := canonical(zone)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.zones[name] = true
	return nil
}

// set replaces the RRset of (name, rrtype); no rrs deletes it.
func (r *records) set(name string, rrtype uint16, rrs []dns.RR) error {
	name, err := canonical(name)
	if err != nil {
		return err
	}
	for _, rr := range rrs {
		rr.Header().Name = name
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(rrs) == 0 {
		delete(r.byName[name], rrtype)
		if len(r.byName[name]) == 0 {
			delete(r.byName, name)
		}
		return nil
	}
	if r.byName[name] == nil {
		r.byName[name] = map[uint16][]dns.RR{}
	}
	r.byName[name][rrtype] = rrs
	return nil
}

// outcome is what the record set says about one question.
type outcome int

const (
	// unknown: neither a record, a rule nor a served zone covers the name.
	unknown outcome = iota
	// found: the name exists; the answer holds the records of the type
	// asked for, none for NODATA.
	found
	// nxdomain: the name is in a served zone but does not exist.
	nxdomain
)

// lookup answers (name, qtype) from explicit records first, then from the
// sender zones' rules. name is canonical.
func (r *records) lookup(name string, qtype uint16) ([]dns.RR, outcome) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	// Explicit records replace the rules for their name.
	if sets, ok := r.byName[name]; ok {
		return copyRRs(sets[qtype]), found
	}
	for _, z := range r.rules {
		if name != z.Zone && under(name, z.Zone) {
			return z.answer(name, qtype)
		}
	}
	if r.hasDescendant(name) {
		return nil, found // an empty non-terminal, e.g. _domainkey.<domain>
	}
	for zone := range r.zones {
		if under(name, zone) {
			return nil, nxdomain
		}
	}
	return nil, unknown
}

// hasDescendant reports whether a record exists below name. Callers hold mu.
func (r *records) hasDescendant(name string) bool {
	for n := range r.byName {
		if strings.HasSuffix(n, "."+name) {
			return true
		}
	}
	return false
}

// answer applies the rule to name, which is strictly under z.Zone.
func (z SenderZone) answer(name string, qtype uint16) ([]dns.RR, outcome) {
	rel := strings.TrimSuffix(name, "."+z.Zone)
	labels := dns.SplitDomainName(rel)
	var txt string
	switch {
	case labels[0] == "_dmarc" && !underscored(labels[1:]):
		if len(labels) == 1 {
			return nil, nxdomain // _dmarc.<zone>: the zone itself is no sender
		}
		txt = z.DMARC
	case underscored(labels):
		return nil, nxdomain
	default:
		txt = z.SPF
	}
	if qtype != dns.TypeTXT || txt == "" {
		return nil, found
	}
	return []dns.RR{newTXT(name, txt)}, found
}

func underscored(labels []string) bool {
	for _, l := range labels {
		if strings.HasPrefix(l, "_") {
			return true
		}
	}
	return false
}

func copyRRs(rrs []dns.RR) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
	}
	return out
}

func header(name string, rrtype uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: rrtype, Class: dns.ClassINET, Ttl: TTL}
}

// newTXT makes one TXT record of text, split into the 255-byte strings
// RFC 1035 allows (a 2048-bit DKIM key does not fit in one); resolvers join
// them again.
func newTXT(name, text string) *dns.TXT {
	var parts []string
	for len(text) > 255 {
		parts = append(parts, text[:255])
		text = text[255:]
	}
	parts = append(parts, text)
	// miekg/dns packs a TXT string with its backslash escapes resolved.
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(p, `\`, `\\`)
	}
	return &dns.TXT{Hdr: header(name, dns.TypeTXT), Txt: parts}
}

func newIP(name string, ip net.IP) dns.RR {
	if v4 := ip.To4(); v4 != nil {
		return &dns.A{Hdr: header(name, dns.TypeA), A: v4}
	}
	return &dns.AAAA{Hdr: header(name, dns.TypeAAAA), AAAA: ip.To16()}
}
