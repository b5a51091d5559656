package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// agents/:agent/creds and agents/:agent/creds/:cred: an agent's credential
// vault. The storage is in creds.go.

// Bounds of credential fields.
const (
	defaultMaxVersions = 10
	maxMaxVersions     = 100
	maxUsername        = 1024
	maxPassword        = 4096
	maxURL             = 2048
	maxFields          = 64
	maxFieldKey        = 128
	maxFieldValue      = 64 << 10
	maxRecordBytes     = 512 << 10
)

func (b *backend) pathCreds() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:      "agents/" + namePattern("agent") + "/creds/?$",
			DisplayAttrs: pathDisplay("credentials"),
			Fields: map[string]*framework.FieldSchema{
				"agent": agentField(),
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{Callback: withAgent(b, "", noInput, b.pathCredList)},
			},
			HelpSynopsis: "List the agent's credentials, without secrets.",
		},
		{
			Pattern:        "agents/" + namePattern("agent") + "/creds/" + namePattern("cred") + "$",
			DisplayAttrs:   pathDisplay("credential"),
			Fields:         credFields(),
			ExistenceCheck: b.credExists,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.CreateOperation: &framework.PathOperation{Callback: withAgent(b, opCredWrite, readCredWrite, b.pathCredWrite)},
				logical.UpdateOperation: &framework.PathOperation{Callback: withAgent(b, opCredWrite, readCredWrite, b.pathCredWrite)},
				logical.ReadOperation:   &framework.PathOperation{Callback: withAgent(b, opCredRead, readCredRead, b.pathCredRead)},
				logical.DeleteOperation: &framework.PathOperation{Callback: withAgent(b, opCredDelete, readCredName, b.pathCredDelete)},
			},
			HelpSynopsis:    "Store, read or delete one of the agent's credentials.",
			HelpDescription: pathCredHelpDesc,
		},
	}
}

func credFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"agent": agentField(),
		"cred":  credField(),
		"username": {
			Type:        framework.TypeString,
			Description: "Login name.",
		},
		"password": {
			Type:         framework.TypeString,
			Description:  "Password. Returned only by this path's read.",
			DisplayAttrs: &framework.DisplayAttributes{Sensitive: true},
		},
		"totp_secret": {
			Type:         framework.TypeString,
			Description:  "TOTP seed in base32 (any case, spaces allowed). Write-only: never returned. Empty string removes TOTP.",
			DisplayAttrs: &framework.DisplayAttributes{Sensitive: true},
		},
		"totp_uri": {
			Type:         framework.TypeString,
			Description:  "otpauth://totp/… URI with the seed and its algorithm, digits and period. Write-only.",
			DisplayAttrs: &framework.DisplayAttributes{Sensitive: true},
		},
		"totp_qr": {
			Type: framework.TypeString,
			Description: "The site's TOTP enrolment QR code: a PNG, JPEG or GIF image (at most 1 MiB) in base64, " +
				"or a data: URL. Decoded by the engine and read like totp_uri. Write-only.",
			DisplayAttrs: &framework.DisplayAttributes{Sensitive: true},
		},
		"totp_algorithm": {
			Type:        framework.TypeString,
			Description: "SHA1 (default), SHA256 or SHA512.",
		},
		"totp_digits": {
			Type:        framework.TypeInt,
			Description: "6 (default) or 8.",
		},
		"totp_period": {
			Type:        framework.TypeInt,
			Description: "Time step in seconds (default 30).",
		},
		"url": {
			Type:        framework.TypeString,
			Description: "Site the credential is for.",
		},
		"backup_codes": {
			Type: framework.TypeCommaStringSlice,
			Description: fmt.Sprintf("The site's one-time recovery codes (at most %d): replaces the set, none used; "+
				"an empty list removes them. Write-only: reads show backup_codes_remaining, and "+
				"creds/<cred>/backup-code hands them out one at a time.", maxBackupCodes),
			DisplayAttrs: &framework.DisplayAttributes{Sensitive: true},
		},
		"fields": {
			Type:        framework.TypeKVPairs,
			Description: "Free-form secret key/value pairs: API keys, recovery codes, …",
		},
		"cas": {
			Type:        framework.TypeInt,
			Description: "Check-and-set: the write succeeds only if the current version is this (0: the credential must not exist).",
		},
		"max_versions": {
			Type:        framework.TypeInt,
			Description: fmt.Sprintf("Versions kept (1-%d, default %d).", maxMaxVersions, defaultMaxVersions),
		},
		"version": {
			Type:        framework.TypeInt,
			Description: "Read this version instead of the current one.",
		},
	}
}

// credExists tells Vault whether a write creates or updates (the create
// and update capabilities).
func (b *backend) credExists(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	agent, cred := d.Get("agent").(string), d.Get("cred").(string)
	if validateAgentName(agent) != nil || validateCredName(cred) != nil {
		return false, nil
	}
	m, err := getJSON[credMeta](ctx, req.Storage, credMetaKey(agent, cred))
	return m != nil, err
}

func (b *backend) pathCredList(ctx context.Context, req *logical.Request, st *agentState, _ struct{}) (*logical.Response, error) {
	names, err := req.Storage.List(ctx, credMetaPrefix+st.entry.Name+"/")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	info := make(map[string]interface{}, len(names))
	for _, n := range names {
		m, err := getJSON[credMeta](ctx, req.Storage, credMetaKey(st.entry.Name, n))
		if err != nil {
			return nil, err
		}
		if m == nil {
			continue
		}
		info[n] = map[string]interface{}{
			"current_version": m.CurrentVersion,
			"url":             m.URL,
			"totp_enabled":    m.TOTPEnabled,
			"updated_at":      m.UpdatedAt.Format(time.RFC3339Nano),
			// The current set's; a read of an older version may differ.
			"backup_codes_remaining": m.Backup.remaining(),
		}
	}
	return logical.ListResponseWithInfo(names, info), nil
}

// readCredName reads the credential a path names.
func readCredName(d *framework.FieldData) (string, *logical.Response) {
	cred := d.Get("cred").(string)
	if err := validateCredName(cred); err != nil {
		return "", logical.ErrorResponse(err.Error())
	}
	return cred, nil
}

// credReadInput is what a credential read asks for.
type credReadInput struct {
	cred    string
	version int // 0: the current one
}

func readCredRead(d *framework.FieldData) (credReadInput, *logical.Response) {
	in := credReadInput{}
	v, ok, err := d.GetOkErr("version")
	if err != nil {
		return in, logical.ErrorResponse("version: %v", err)
	}
	if ok {
		if in.version = v.(int); in.version < 0 {
			return in, logical.ErrorResponse("version: must not be negative (0 is the current version), got %d", in.version)
		}
	}
	var resp *logical.Response
	in.cred, resp = readCredName(d)
	return in, resp
}

// pathCredRead returns one version, password included, once its cred.read
// event is stored.
func (b *backend) pathCredRead(ctx context.Context, req *logical.Request, st *agentState, in credReadInput) (*logical.Response, error) {
	c, err := b.loadCred(ctx, req, st, in.cred, in.version, opCredRead)
	if err != nil {
		return nil, err
	}
	ev := b.agentEvent(req, st.entry, opCredRead, outcomeSuccess)
	ev.Credential, ev.Version = in.cred, c.version
	if err := b.record(ctx, req.Storage, subjectAgent, st.entry.Name, ev); err != nil {
		return nil, err
	}
	return &logical.Response{Data: credResponseData(st.entry, in.cred, c)}, nil
}

// credResponseData is the one place a credential becomes a response, and
// so the place where the TOTP seed is left out: only its parameters go.
func credResponseData(a *agentEntry, cred string, c *openedCred) map[string]interface{} {
	meta, rec := c.meta, c.rec
	fields := rec.Fields
	if fields == nil {
		fields = map[string]string{}
	}
	versions := make([]int, 0, len(meta.Versions))
	for v := range meta.Versions {
		versions = append(versions, v)
	}
	sort.Ints(versions)
	m := map[string]interface{}{
		"agent":            a.Name,
		"delegation_chain": a.chain(),
		"credential":       cred,
		"version":          c.version,
		"current_version":  meta.CurrentVersion,
		"versions":         versions,
		"max_versions":     meta.MaxVersions,
		"created_at":       meta.Versions[c.version].Format(time.RFC3339Nano),
		"updated_at":       meta.UpdatedAt.Format(time.RFC3339Nano),
		"username":         rec.Username,
		"password":         rec.Password,
		"url":              rec.URL,
		"fields":           fields,
		"totp":             totpInfo(rec.TOTP),
		// How many recovery codes backup-code can still hand out; never the codes.
		"backup_codes_remaining": backupCodesRemaining(meta, rec),
	}
	if meta.LastLogin != nil {
		m["last_login"] = map[string]interface{}{"at": meta.LastLogin.At.Format(time.RFC3339Nano), "outcome": meta.LastLogin.Outcome}
	}
	return m
}

// totpInfo is what a read shows of TOTP: whether it is on, and its
// parameters — never the seed.
func totpInfo(t *totpSecret) map[string]interface{} {
	info := map[string]interface{}{"enabled": t != nil}
	if t == nil {
		return info
	}
	info["algorithm"], info["digits"], info["period"] = t.Algorithm, t.Digits, t.Period
	if t.Issuer != "" {
		info["issuer"] = t.Issuer
	}
	if t.Account != "" {
		info["account"] = t.Account
	}
	return info
}

// pathCredWrite makes the credential's next version, creating the
// credential or updating it: the two differ only in step 2, and are one
// handler because a create racing another must merge like an update (two
// first writes must not lose each other's fields). The steps:
//
//  1. lock the credential; drop its cache entry afterwards, whatever
//     happens;
//  2. load its metadata, or a new credential's (currentMeta);
//  3. check-and-set;
//  4. merge the input into the current version, if there is one
//     (currentVersion, credInput.apply), and bound the result;
//  5. store it as the next version (storeVersion);
//  6. record cred.write, then answer.
func (b *backend) pathCredWrite(ctx context.Context, req *logical.Request, st *agentState, in *credInput) (*logical.Response, error) {
	agent, cred := st.entry.Name, in.cred
	lock := b.credLock(agent, cred)
	lock.Lock()
	defer lock.Unlock()
	defer b.creds.drop(credCacheKey(agent, cred))

	now := b.now().UTC()
	meta, err := b.currentMeta(ctx, req.Storage, agent, cred, now)
	if err != nil {
		return nil, err
	}
	if in.cas != nil && *in.cas != meta.CurrentVersion {
		return logical.ErrorResponse("cas: check-and-set mismatch: the current version is %d, not %d", meta.CurrentVersion, *in.cas), nil
	}
	prev, err := b.currentVersion(ctx, req.Storage, st, cred, meta)
	if err != nil {
		return nil, err
	}
	rec, resp := in.apply(prev)
	if resp != nil {
		return resp, nil
	}
	in.applyBackupCodes(rec, meta)
	plaintext, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	defer clear(plaintext)
	if len(plaintext) > maxRecordBytes {
		return logical.ErrorResponse("fields: the credential is %d bytes in all, at most %d allowed", len(plaintext), maxRecordBytes), nil
	}
	if in.maxVersions != nil {
		meta.MaxVersions = *in.maxVersions
	}
	version, err := b.storeVersion(ctx, req.Storage, st, cred, meta, plaintext, rec, now)
	if err != nil {
		return nil, err
	}
	ev := b.agentEvent(req, st.entry, opCredWrite, outcomeSuccess)
	ev.Credential, ev.Version = cred, version
	if err := b.record(ctx, req.Storage, subjectAgent, agent, ev); err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]interface{}{
		"agent":           agent,
		"credential":      cred,
		"version":         version,
		"current_version": version,
		"created_at":      now.Format(time.RFC3339Nano),
		"totp_enabled":    rec.TOTP != nil,
	}}, nil
}

// currentMeta returns a credential's metadata, for the caller to change,
// or a new credential's. The caller holds the credential's lock.
func (b *backend) currentMeta(ctx context.Context, s logical.Storage, agent, cred string, now time.Time) (*credMeta, error) {
	meta, err := getJSON[credMeta](ctx, s, credMetaKey(agent, cred))
	if err != nil || meta != nil {
		return meta, err
	}
	return &credMeta{MaxVersions: defaultMaxVersions, Versions: map[int]time.Time{}, CreatedAt: now}, nil
}

// currentVersion is the version a write merges with (read under the
// caller's lock): the current one, or none for a new credential.
func (b *backend) currentVersion(ctx context.Context, s logical.Storage, st *agentState, cred string, meta *credMeta) (*credRecord, error) {
	if meta.CurrentVersion == 0 {
		return nil, nil
	}
	return b.openVersion(ctx, s, st, cred, meta.CurrentVersion)
}

// pathCredDelete deletes every version of the credential.
func (b *backend) pathCredDelete(ctx context.Context, req *logical.Request, st *agentState, cred string) (*logical.Response, error) {
	agent := st.entry.Name
	lock := b.credLock(agent, cred)
	lock.Lock()
	defer lock.Unlock()
	defer b.creds.drop(credCacheKey(agent, cred))
	meta, err := getJSON[credMeta](ctx, req.Storage, credMetaKey(agent, cred))
	if err != nil || meta == nil {
		return nil, err
	}
	// The metadata first: once it is gone the credential does not exist,
	// even if a version delete below fails (the sweep finds orphans).
	if err := req.Storage.Delete(ctx, credMetaKey(agent, cred)); err != nil {
		return nil, err
	}
	for v := range meta.Versions {
		if err := req.Storage.Delete(ctx, credVersionKey(agent, cred, v)); err != nil {
			return nil, err
		}
	}
	if err := req.Storage.Delete(ctx, totpLastKey(agent, cred)); err != nil {
		return nil, err
	}
	b.totpLast.drop(credCacheKey(agent, cred))
	ev := b.agentEvent(req, st.entry, opCredDelete, outcomeSuccess)
	ev.Credential, ev.Version = cred, meta.CurrentVersion
	return nil, b.record(ctx, req.Storage, subjectAgent, agent, ev)
}

const pathCredHelpDesc = `
A credential holds a username, password, optional TOTP seed (totp_secret in
base32, or totp_uri as otpauth://totp/…), the site's url and free-form
fields. Every write makes a new version sealed with its own data key
(AES-256-GCM), wrapped by the agent's key. An update merges with the
current version: fields not given keep their values, an empty string clears
one. Reads return everything except the TOTP seed, which no endpoint ever
returns; use creds/<cred>/totp for codes.
`

// credInput is a validated credential write.
type credInput struct {
	cred                    string
	username, password, url *string
	totp                    *totpSecret // replaces the seed (and parameters, from a URI)
	totpFromURI             bool
	clearTOTP               bool
	algorithm               *string // parameters without a new seed
	digits, period          *int
	fields                  map[string]string
	hasFields               bool
	backupCodes             []string // replaces the set; empty removes it
	hasBackupCodes          bool
	backupSet               string // the new set's ID
	cas                     *int
	maxVersions             *int
}

// readCredWrite validates every field of a write before anything is read
// or written: 1. the credential's name, 2. unknown fields, 3. username,
// password and url, 4. the TOTP parameters, then the seed, URI or QR, 5.
// backup_codes, 6. fields, cas and max_versions. A bad agent name is answered before a bad
// field.
func readCredWrite(d *framework.FieldData) (*credInput, *logical.Response) {
	cred, resp := readCredName(d)
	if resp != nil {
		return nil, resp
	}
	in := &credInput{cred: cred}
	for _, read := range []func(*framework.FieldData) *logical.Response{
		rejectUnknownFields, in.readTexts, in.readTOTPParams, in.readTOTPSeed, in.readBackupCodes, in.readVersioning,
	} {
		if resp := read(d); resp != nil {
			return nil, agentNameFirst(d, resp)
		}
	}
	return in, nil
}

// readTexts reads username, password and url.
func (in *credInput) readTexts(d *framework.FieldData) *logical.Response {
	for _, f := range []struct {
		field string
		max   int
		dst   **string
	}{{"username", maxUsername, &in.username}, {"password", maxPassword, &in.password}, {"url", maxURL, &in.url}} {
		v, ok, err := d.GetOkErr(f.field)
		if err != nil {
			return logical.ErrorResponse("%s: %v", f.field, err)
		}
		if !ok {
			continue
		}
		s := v.(string)
		if err := checkText(f.field, s, f.max); err != nil {
			return logical.ErrorResponse(err.Error())
		}
		*f.dst = &s
	}
	if in.url != nil && *in.url != "" {
		if u, err := url.Parse(*in.url); err != nil || u.Scheme == "" || u.Host == "" {
			return logical.ErrorResponse("url: %q is not an absolute URL", *in.url)
		}
	}
	return nil
}

// readTOTPParams reads totp_algorithm, totp_digits and totp_period.
func (in *credInput) readTOTPParams(d *framework.FieldData) *logical.Response {
	_, hasSecret := d.Raw["totp_secret"]
	_, hasURI := d.Raw["totp_uri"]
	if _, hasQR := d.Raw["totp_qr"]; hasQR && (hasSecret || hasURI) {
		return logical.ErrorResponse("totp_qr: give only one of totp_qr, totp_uri and totp_secret")
	}
	if hasSecret && hasURI {
		return logical.ErrorResponse("totp_uri: give either totp_uri or totp_secret, not both")
	}
	if v, ok, err := d.GetOkErr("totp_algorithm"); err != nil {
		return logical.ErrorResponse("totp_algorithm: %v", err)
	} else if ok {
		a, err := normalizeAlgorithm(v.(string))
		if err != nil {
			return logical.ErrorResponse("totp_algorithm: %v", err)
		}
		in.algorithm = &a
	}
	for _, f := range []struct {
		field string
		check func(int) error
		dst   **int
	}{{"totp_digits", checkDigits, &in.digits}, {"totp_period", checkPeriod, &in.period}} {
		v, ok, err := d.GetOkErr(f.field)
		if err != nil {
			return logical.ErrorResponse("%s: %v", f.field, err)
		}
		if !ok {
			continue
		}
		n := v.(int)
		if err := f.check(n); err != nil {
			return logical.ErrorResponse("%s: %v", f.field, err)
		}
		*f.dst = &n
	}
	return nil
}

// hasTOTPParams tells whether the write sets any TOTP parameter.
func (in *credInput) hasTOTPParams() bool {
	return in.algorithm != nil || in.digits != nil || in.period != nil
}

// readTOTPSeed reads totp_qr or totp_uri (which carry their own
// parameters) or totp_secret (an empty one removes TOTP). No error echoes
// the seed.
func (in *credInput) readTOTPSeed(d *framework.FieldData) *logical.Response {
	if qrV, ok := d.Raw["totp_qr"]; ok {
		if in.hasTOTPParams() {
			return logical.ErrorResponse("totp_qr: carries its own algorithm, digits and period; do not also set totp_algorithm, totp_digits or totp_period")
		}
		s, ok := qrV.(string)
		if !ok {
			return logical.ErrorResponse("totp_qr: must be a string: the image in base64")
		}
		t, err := decodeTOTPQR(s)
		if err != nil {
			return logical.ErrorResponse("totp_qr: %v", err)
		}
		in.totp, in.totpFromURI = t, true
		return nil
	}
	if uriV, ok := d.Raw["totp_uri"]; ok {
		if in.hasTOTPParams() {
			return logical.ErrorResponse("totp_uri: carries its own algorithm, digits and period; do not also set totp_algorithm, totp_digits or totp_period")
		}
		s, _ := uriV.(string)
		t, err := parseTOTPURI(s)
		if err != nil {
			return logical.ErrorResponse("totp_uri: %v", err)
		}
		in.totp, in.totpFromURI = t, true
		return nil
	}
	secretV, ok := d.Raw["totp_secret"]
	if !ok {
		return nil
	}
	s, ok := secretV.(string)
	if !ok {
		return logical.ErrorResponse("totp_secret: must be a string")
	}
	if s == "" {
		if in.hasTOTPParams() {
			return logical.ErrorResponse("totp_secret: is empty (removing TOTP) while TOTP parameters are set")
		}
		in.clearTOTP = true
		return nil
	}
	seed, err := normalizeSeed(s)
	if err != nil {
		return logical.ErrorResponse("totp_secret: %v", err)
	}
	in.totp = &totpSecret{Seed: seed, Algorithm: defaultTOTPAlgorithm, Digits: defaultTOTPDigits, Period: defaultTOTPPeriod}
	in.setTOTPParams(in.totp)
	return nil
}

// setTOTPParams sets on t the parameters the write gives.
func (in *credInput) setTOTPParams(t *totpSecret) {
	if in.algorithm != nil {
		t.Algorithm = *in.algorithm
	}
	if in.digits != nil {
		t.Digits = *in.digits
	}
	if in.period != nil {
		t.Period = *in.period
	}
}

// readVersioning reads fields, cas and max_versions, and refuses version.
func (in *credInput) readVersioning(d *framework.FieldData) *logical.Response {
	fields, ok, err := kvField(d, "fields")
	if err != nil {
		return logical.ErrorResponse(err.Error())
	}
	if ok {
		if err := checkKV("fields", fields, maxFields, maxFieldKey, maxFieldValue); err != nil {
			return logical.ErrorResponse(err.Error())
		}
		in.fields, in.hasFields = fields, true
	}
	if v, ok, err := d.GetOkErr("cas"); err != nil {
		return logical.ErrorResponse("cas: %v", err)
	} else if ok {
		n := v.(int)
		if n < 0 {
			return logical.ErrorResponse("cas: must not be negative")
		}
		in.cas = &n
	}
	if v, ok, err := d.GetOkErr("max_versions"); err != nil {
		return logical.ErrorResponse("max_versions: %v", err)
	} else if ok {
		n := v.(int)
		if n < 1 || n > maxMaxVersions {
			return logical.ErrorResponse("max_versions: must be between 1 and %d, got %d", maxMaxVersions, n)
		}
		in.maxVersions = &n
	}
	if _, ok := d.Raw["version"]; ok {
		return logical.ErrorResponse("version: is for reads; a write always makes the next version")
	}
	return nil
}

// apply merges the input into the previous version's record (nil for a new
// credential): a write changes what it names and keeps the rest — the seed
// above all, since nobody can read it back to re-send it.
func (in *credInput) apply(prev *credRecord) (*credRecord, *logical.Response) {
	r := &credRecord{}
	if prev != nil {
		*r = *prev
		r.Fields = make(map[string]string, len(prev.Fields))
		for k, v := range prev.Fields {
			r.Fields[k] = v
		}
		if prev.TOTP != nil {
			t := *prev.TOTP
			r.TOTP = &t
		}
	}
	for _, f := range []struct{ given, dst *string }{{in.username, &r.Username}, {in.password, &r.Password}, {in.url, &r.URL}} {
		if f.given != nil {
			*f.dst = *f.given
		}
	}
	if in.hasFields {
		r.Fields = in.fields
	}
	return r, in.applyTOTP(r)
}

// applyTOTP merges the TOTP part of the input into r.
func (in *credInput) applyTOTP(r *credRecord) *logical.Response {
	switch {
	case in.totp != nil && !in.totpFromURI && r.TOTP != nil:
		// A new seed alone keeps the parameters not given: rotating an
		// 8-digit SHA256 seed must not silently fall back to SHA1/6/30.
		t := *r.TOTP
		t.Seed, t.Issuer, t.Account = in.totp.Seed, in.totp.Issuer, in.totp.Account
		in.setTOTPParams(&t)
		r.TOTP = &t
	case in.totp != nil:
		r.TOTP = in.totp
	case in.clearTOTP:
		r.TOTP = nil
	case in.hasTOTPParams():
		if r.TOTP == nil {
			return logical.ErrorResponse("totp_secret: is required to set TOTP parameters on a credential without a seed")
		}
		in.setTOTPParams(r.TOTP)
	}
	return nil
}
