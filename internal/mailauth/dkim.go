package mailauth

import (
	"bytes"
	"context"
	"errors"
	"strings"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/mailgent/mailgent/internal/mailmsg"
)

// checkDKIM verifies the first MaxDKIMSignatures DKIM signatures of raw.
// It returns a single "none" result when raw has no signature.
func checkDKIM(ctx context.Context, r Resolver, raw []byte) []mailmsg.DKIMResult {
	sigs := dkimSignatures(raw)
	if len(sigs) == 0 {
		return []mailmsg.DKIMResult{{Result: ResultNone}}
	}
	if len(sigs) > MaxDKIMSignatures {
		sigs = sigs[:MaxDKIMSignatures]
	}

	g := newGuard(r, MaxDKIMSignatures)
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{
		LookupTXT:        g.txtFunc(ctx),
		MaxVerifications: MaxDKIMSignatures,
	})
	if errors.Is(err, dkim.ErrTooManySignatures) {
		err = nil
	}
	if err != nil && len(verifs) == 0 {
		// The message itself could not be processed (e.g. a malformed
		// header): report every signature as a permanent error.
		out := make([]mailmsg.DKIMResult, len(sigs))
		for i, s := range sigs {
			out[i] = mailmsg.DKIMResult{Domain: s.domain, Selector: s.selector, Result: ResultPermError, Error: err.Error()}
		}
		return out
	}

	out := make([]mailmsg.DKIMResult, 0, len(verifs))
	for i, v := range verifs {
		if v == nil {
			continue
		}
		res := mailmsg.DKIMResult{Domain: normDomain(v.Domain)}
		if i < len(sigs) {
			res.Selector = sigs[i].selector
			if res.Domain == "" {
				res.Domain = sigs[i].domain
			}
		}
		switch {
		case v.Err == nil && err == nil:
			res.Result = ResultPass
		case v.Err == nil:
			// parallelVerify clears the Err of the signature whose
			// unexpected error it returns separately.
			res.Result, res.Error = ResultPermError, err.Error()
		case dkim.IsTempFail(v.Err):
			res.Result, res.Error = ResultTempError, v.Err.Error()
		case dkim.IsPermFail(v.Err):
			res.Result, res.Error = ResultPermError, v.Err.Error()
		default:
			// Signature or body hash mismatch, or an insecure l= tag.
			res.Result, res.Error = ResultFail, v.Err.Error()
		}
		out = append(out, res)
	}
	return out
}

type dkimSig struct{ domain, selector string }

// dkimSignatures returns the d= and s= tags of raw's DKIM-Signature header
// fields, in header order (the order go-msgauth reports verifications in).
func dkimSignatures(raw []byte) []dkimSig {
	// The header ends at the first empty line.
	hdr := raw
	if i := bytes.Index(raw, []byte("\n\r\n")); i >= 0 {
		hdr = raw[:i+1]
	}
	if i := bytes.Index(hdr, []byte("\n\n")); i >= 0 {
		hdr = hdr[:i+1]
	}

	var fields []string
	for _, line := range strings.Split(string(hdr), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1] += line
			continue
		}
		fields = append(fields, line)
	}

	var sigs []dkimSig
	for _, f := range fields {
		name, value, ok := strings.Cut(f, ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "DKIM-Signature") {
			continue
		}
		var s dkimSig
		for _, tag := range strings.Split(value, ";") {
			k, v, ok := strings.Cut(tag, "=")
			if !ok {
				continue
			}
			v = strings.Join(strings.Fields(v), "")
			switch strings.TrimSpace(k) {
			case "d":
				s.domain = normDomain(v)
			case "s":
				s.selector = v
			}
		}
		sigs = append(sigs, s)
	}
	return sigs
}
