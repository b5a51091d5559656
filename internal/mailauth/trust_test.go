package mailauth

import (
	"strings"
	"testing"

	"github.com/mailgent/mailgent/internal/mailmsg"
)

func TestVerdict(t *testing.T) {
	dkim := func(d, res string) []mailmsg.DKIMResult { return []mailmsg.DKIMResult{{Domain: d, Result: res}} }
	noSig := dkim("", ResultNone)
	spf := func(d, res string) mailmsg.SPFResult { return mailmsg.SPFResult{Domain: d, Result: res} }
	dmarc := func(d, res string) mailmsg.DMARCResult {
		return mailmsg.DMARCResult{Domain: d, Result: res, Policy: "reject"}
	}
	for _, tc := range []struct {
		name, sender string
		r            mailmsg.AuthResults
		want         string
		reason       string
	}{
		{"dmarc pass by aligned dkim", "svc.example",
			mailmsg.AuthResults{DKIM: dkim("svc.example", ResultPass), SPF: spf("svc.example", ResultPass), DMARC: dmarc("svc.example", ResultPass)},
			mailmsg.TrustVerified, "dmarc=pass: dkim=pass d=svc.example aligned with svc.example"},
		{"dmarc pass by spf of a subdomain", "svc.example",
			mailmsg.AuthResults{DKIM: noSig, SPF: spf("bounce.svc.example", ResultPass), DMARC: dmarc("svc.example", ResultPass)},
			mailmsg.TrustVerified, "dmarc=pass: spf=pass for bounce.svc.example aligned"},
		{"signed by another domain", "github.com",
			mailmsg.AuthResults{DKIM: dkim("evil.example", ResultPass), SPF: spf("evil.example", ResultPass), DMARC: dmarc("github.com", ResultFail)},
			mailmsg.TrustUnverified, "dmarc=fail p=reject: dkim=pass d=evil.example not aligned with github.com; spf=pass for evil.example not aligned with github.com"},
		{"unsigned from an ip outside spf", "svc.example",
			mailmsg.AuthResults{DKIM: noSig, SPF: spf("svc.example", ResultFail), DMARC: dmarc("svc.example", ResultFail)},
			mailmsg.TrustUnverified, "dmarc=fail p=reject: no DKIM signature; spf=fail for svc.example"},
		{"no dmarc record, aligned dkim", "svc.example",
			mailmsg.AuthResults{DKIM: dkim("mail.svc.example", ResultPass), SPF: spf("other.example", ResultSoftFail), DMARC: mailmsg.DMARCResult{Result: ResultNone}},
			mailmsg.TrustVerified, "no DMARC record; dkim=pass d=mail.svc.example aligned"},
		{"no dmarc record, aligned spf", "svc.example",
			mailmsg.AuthResults{DKIM: noSig, SPF: spf("svc.example", ResultPass), DMARC: mailmsg.DMARCResult{Result: ResultNone}},
			mailmsg.TrustVerified, "no DMARC record; spf=pass for svc.example"},
		{"no dmarc record, spf of an esp", "svc.example",
			mailmsg.AuthResults{DKIM: noSig, SPF: spf("bounces.esp.example", ResultPass), DMARC: mailmsg.DMARCResult{Result: ResultNone}},
			mailmsg.TrustUnverified, "no DMARC record and no aligned pass: no DKIM signature; spf=pass for bounces.esp.example not aligned with svc.example"},
		{"malformed dmarc record counts as none", "svc.example",
			mailmsg.AuthResults{DKIM: dkim("svc.example", ResultPass), SPF: spf("svc.example", ResultNone), DMARC: mailmsg.DMARCResult{Result: ResultPermError}},
			mailmsg.TrustVerified, "no DMARC record; dkim=pass"},
		{"dmarc temperror", "svc.example",
			mailmsg.AuthResults{DKIM: dkim("svc.example", ResultTempError), SPF: spf("svc.example", ResultTempError), DMARC: mailmsg.DMARCResult{Result: ResultTempError}},
			mailmsg.TrustUnverified, "dmarc=temperror"},
		{"a failing aligned signature", "svc.example",
			mailmsg.AuthResults{DKIM: dkim("svc.example", ResultFail), SPF: spf("svc.example", ResultNone), DMARC: mailmsg.DMARCResult{Result: ResultNone}},
			mailmsg.TrustUnverified, "dkim=fail d=svc.example; spf=none for svc.example"},
		{"public suffix is not an organisation", "a.co.uk",
			mailmsg.AuthResults{DKIM: dkim("b.co.uk", ResultPass), SPF: spf("", ResultNone), DMARC: mailmsg.DMARCResult{Result: ResultNone}},
			mailmsg.TrustUnverified, "dkim=pass d=b.co.uk not aligned with a.co.uk"},
		{"no sender domain", "",
			mailmsg.AuthResults{DKIM: dkim("svc.example", ResultPass), DMARC: mailmsg.DMARCResult{Result: ResultNone}},
			mailmsg.TrustUnverified, "no sender domain"},
		{"disabled checks", "svc.example",
			mailmsg.AuthResults{}, mailmsg.TrustUnverified, "no DKIM signature; spf=none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := Verdict(tc.sender, tc.r)
			if got != tc.want {
				t.Errorf("trust = %s (%s), want %s", got, reason, tc.want)
			}
			if !strings.Contains(reason, tc.reason) {
				t.Errorf("reason %q does not contain %q", reason, tc.reason)
			}
		})
	}
}
