package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"
)

// Storage of credentials: a plaintext metadata entry (no secrets) and one
// sealed entry per version.
const (
	credMetaPrefix    = "credmeta/" // credmeta/<agent>/<cred> → credMeta
	credVersionPrefix = "credver/"  // credver/<agent>/<cred>/<version> → sealed
)

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

// credMeta describes a credential without any secret.
type credMeta struct {
	// CurrentVersion is the newest version; 0 before the first write.
	CurrentVersion int `json:"current_version"`
	// MaxVersions is how many versions are kept.
	MaxVersions int `json:"max_versions"`
	// Versions maps each kept version to when it was written.
	Versions map[int]time.Time `json:"versions"`
	// CreatedAt and UpdatedAt bound the credential's life.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// URL is the site the credential is for (not a secret; listed).
	URL string `json:"url,omitempty"`
	// TOTPEnabled tells whether the current version has a TOTP seed.
	TOTPEnabled bool `json:"totp_enabled"`
	// LastLogin is the agent's latest login report for this credential.
	LastLogin *loginReport `json:"last_login,omitempty"`
}

// loginReport is what an agent reported about a login attempt.
type loginReport struct {
	At      time.Time `json:"at"`
	Outcome string    `json:"outcome"`
}

// credRecord is the plaintext of one credential version: the part that is
// sealed with envelope encryption.
type credRecord struct {
	Username string            `json:"username,omitempty"`
	Password string            `json:"password,omitempty"`
	URL      string            `json:"url,omitempty"`
	TOTP     *totpSecret       `json:"totp,omitempty"`
	Fields   map[string]string `json:"fields,omitempty"`
}

func credFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"agent":          {Type: framework.TypeString, Description: "Agent name.", Required: true},
		"cred":           {Type: framework.TypeString, Description: "Credential name, e.g. github.com.", Required: true},
		"username":       {Type: framework.TypeString, Description: "Login name."},
		"password":       {Type: framework.TypeString, Description: "Password. Returned only by this path's read.", DisplayAttrs: &framework.DisplayAttributes{Sensitive: true}},
		"totp_secret":    {Type: framework.TypeString, Description: "TOTP seed in base32 (any case, spaces allowed). Write-only: never returned. Empty string removes TOTP.", DisplayAttrs: &framework.DisplayAttributes{Sensitive: true}},
		"totp_uri":       {Type: framework.TypeString, Description: "otpauth://totp/… URI with the seed and its algorithm, digits and period. Write-only.", DisplayAttrs: &framework.DisplayAttributes{Sensitive: true}},
		"totp_algorithm": {Type: framework.TypeString, Description: "SHA1 (default), SHA256 or SHA512."},
		"totp_digits":    {Type: framework.TypeInt, Description: "6 (default) or 8."},
		"totp_period":    {Type: framework.TypeInt, Description: "Time step in seconds (default 30)."},
		"url":            {Type: framework.TypeString, Description: "Site the credential is for."},
		"fields":         {Type: framework.TypeKVPairs, Description: "Free-form secret key/value pairs: API keys, recovery codes, …"},
		"cas":            {Type: framework.TypeInt, Description: "Check-and-set: the write succeeds only if the current version is this (0: the credential must not exist)."},
		"max_versions":   {Type: framework.TypeInt, Description: fmt.Sprintf("Versions kept (1-%d, default %d).", maxMaxVersions, defaultMaxVersions)},
		"version":        {Type: framework.TypeInt, Description: "Read this version instead of the current one."},
	}
}

func (b *backend) pathCreds() []*framework.Path {
	return []*framework.Path{
		{
			Pattern: "agents/" + namePattern("agent") + "/creds/?$",
			Fields: map[string]*framework.FieldSchema{
				"agent": {Type: framework.TypeString, Description: "Agent name.", Required: true},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{Callback: b.pathCredList},
			},
			HelpSynopsis: "List the agent's credentials, without secrets.",
		},
		{
			Pattern:        "agents/" + namePattern("agent") + "/creds/" + namePattern("cred") + "$",
			Fields:         credFields(),
			ExistenceCheck: b.credExists,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.CreateOperation: &framework.PathOperation{Callback: b.pathCredWrite},
				logical.UpdateOperation: &framework.PathOperation{Callback: b.pathCredWrite},
				logical.ReadOperation:   &framework.PathOperation{Callback: b.pathCredRead},
				logical.DeleteOperation: &framework.PathOperation{Callback: b.pathCredDelete},
			},
			HelpSynopsis:    "Store, read or delete one of the agent's credentials.",
			HelpDescription: pathCredHelpDesc,
		},
	}
}

func credMetaKey(agent, cred string) string { return credMetaPrefix + agent + "/" + cred }
func credVersionKey(agent, cred string, v int) string {
	return credVersionPrefix + agent + "/" + cred + "/" + strconv.Itoa(v)
}

func (b *backend) credExists(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	agent, cred := d.Get("agent").(string), d.Get("cred").(string)
	if validateAgentName(agent) != nil || validateCredName(cred) != nil {
		return false, nil
	}
	m, err := getJSON[credMeta](ctx, req.Storage, credMetaKey(agent, cred))
	return m != nil, err
}

func (b *backend) pathCredList(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	st, resp, err := b.activeAgent(ctx, req, d.Get("agent").(string))
	if resp != nil || err != nil {
		return resp, err
	}
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
		}
	}
	return logical.ListResponseWithInfo(names, info), nil
}

// credInput is a validated write request.
type credInput struct {
	username, password, url *string
	totp                    *totpSecret // replaces the seed (and parameters, from a URI)
	totpFromURI             bool
	clearTOTP               bool
	algorithm               *string // parameters without a new seed
	digits, period          *int
	fields                  map[string]string
	hasFields               bool
	cas                     *int
	maxVersions             *int
}

// readCredInput validates every field before anything is read or written.
func readCredInput(d *framework.FieldData) (*credInput, *logical.Response) {
	if resp := rejectUnknownFields(d); resp != nil {
		return nil, resp
	}
	bad := func(field string, err error) (*credInput, *logical.Response) {
		return nil, logical.ErrorResponse("%s: %v", field, err)
	}
	in := &credInput{}
	texts := []struct {
		field string
		max   int
		dst   **string
	}{{"username", maxUsername, &in.username}, {"password", maxPassword, &in.password}, {"url", maxURL, &in.url}}
	for _, f := range texts {
		v, ok, err := d.GetOkErr(f.field)
		if err != nil {
			return bad(f.field, err)
		}
		if !ok {
			continue
		}
		s := v.(string)
		if err := checkText(f.field, s, f.max); err != nil {
			return nil, logical.ErrorResponse(err.Error())
		}
		*f.dst = &s
	}
	if in.url != nil && *in.url != "" {
		if u, err := url.Parse(*in.url); err != nil || u.Scheme == "" || u.Host == "" {
			return bad("url", fmt.Errorf("%q is not an absolute URL", *in.url))
		}
	}

	secretV, hasSecret := d.Raw["totp_secret"]
	uriV, hasURI := d.Raw["totp_uri"]
	if hasSecret && hasURI {
		return bad("totp_uri", fmt.Errorf("give either totp_uri or totp_secret, not both"))
	}
	if v, ok, err := d.GetOkErr("totp_algorithm"); err != nil {
		return bad("totp_algorithm", err)
	} else if ok {
		a, err := normalizeAlgorithm(v.(string))
		if err != nil {
			return bad("totp_algorithm", err)
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
			return bad(f.field, err)
		}
		if !ok {
			continue
		}
		n := v.(int)
		if err := f.check(n); err != nil {
			return bad(f.field, err)
		}
		*f.dst = &n
	}
	switch {
	case hasURI:
		if in.algorithm != nil || in.digits != nil || in.period != nil {
			return bad("totp_uri", fmt.Errorf("carries its own algorithm, digits and period; do not also set totp_algorithm, totp_digits or totp_period"))
		}
		s, _ := uriV.(string)
		t, err := parseTOTPURI(s)
		if err != nil {
			return bad("totp_uri", err)
		}
		in.totp, in.totpFromURI = t, true
	case hasSecret:
		s, ok := secretV.(string)
		if !ok {
			return bad("totp_secret", fmt.Errorf("must be a string"))
		}
		if s == "" {
			if in.algorithm != nil || in.digits != nil || in.period != nil {
				return bad("totp_secret", fmt.Errorf("is empty (removing TOTP) while TOTP parameters are set"))
			}
			in.clearTOTP = true
			break
		}
		seed, err := normalizeSeed(s)
		if err != nil {
			return bad("totp_secret", err)
		}
		in.totp = &totpSecret{Seed: seed, Algorithm: defaultTOTPAlgorithm, Digits: defaultTOTPDigits, Period: defaultTOTPPeriod}
		if in.algorithm != nil {
			in.totp.Algorithm = *in.algorithm
		}
		if in.digits != nil {
			in.totp.Digits = *in.digits
		}
		if in.period != nil {
			in.totp.Period = *in.period
		}
	}

	fields, ok, err := kvField(d, "fields")
	if err != nil {
		return nil, logical.ErrorResponse(err.Error())
	}
	if ok {
		if err := checkKV("fields", fields, maxFields, maxFieldKey, maxFieldValue); err != nil {
			return nil, logical.ErrorResponse(err.Error())
		}
		in.fields, in.hasFields = fields, true
	}
	if v, ok, err := d.GetOkErr("cas"); err != nil {
		return bad("cas", err)
	} else if ok {
		n := v.(int)
		if n < 0 {
			return bad("cas", fmt.Errorf("must not be negative"))
		}
		in.cas = &n
	}
	if v, ok, err := d.GetOkErr("max_versions"); err != nil {
		return bad("max_versions", err)
	} else if ok {
		n := v.(int)
		if n < 1 || n > maxMaxVersions {
			return bad("max_versions", fmt.Errorf("must be between 1 and %d, got %d", maxMaxVersions, n))
		}
		in.maxVersions = &n
	}
	if _, ok := d.Raw["version"]; ok {
		return bad("version", fmt.Errorf("is for reads; a write always makes the next version"))
	}
	return in, nil
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
	if in.username != nil {
		r.Username = *in.username
	}
	if in.password != nil {
		r.Password = *in.password
	}
	if in.url != nil {
		r.URL = *in.url
	}
	if in.hasFields {
		r.Fields = in.fields
	}
	switch {
	case in.totp != nil && !in.totpFromURI && r.TOTP != nil:
		// A new seed alone keeps the parameters not given: rotating an
		// 8-digit SHA256 seed must not silently fall back to SHA1/6/30.
		t := *in.totp
		if in.algorithm == nil {
			t.Algorithm = r.TOTP.Algorithm
		}
		if in.digits == nil {
			t.Digits = r.TOTP.Digits
		}
		if in.period == nil {
			t.Period = r.TOTP.Period
		}
		r.TOTP = &t
	case in.totp != nil:
		r.TOTP = in.totp
	case in.clearTOTP:
		r.TOTP = nil
	case in.algorithm != nil || in.digits != nil || in.period != nil:
		if r.TOTP == nil {
			return nil, logical.ErrorResponse("totp_secret: is required to set TOTP parameters on a credential without a seed")
		}
		if in.algorithm != nil {
			r.TOTP.Algorithm = *in.algorithm
		}
		if in.digits != nil {
			r.TOTP.Digits = *in.digits
		}
		if in.period != nil {
			r.TOTP.Period = *in.period
		}
	}
	return r, nil
}

func (b *backend) pathCredWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	agent, cred := d.Get("agent").(string), d.Get("cred").(string)
	if err := validateCredName(cred); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	in, resp := readCredInput(d)
	if resp != nil {
		if err := validateAgentName(agent); err != nil {
			return logical.ErrorResponse(err.Error()), nil
		}
		return resp, nil
	}
	st, resp, err := b.activeAgent(ctx, req, agent)
	if resp != nil || err != nil {
		return resp, b.deniedOnRevoked(ctx, req, st, opCredWrite, cred, err)
	}

	lock := locksutil.LockForKey(b.locks, credMetaKey(agent, cred))
	lock.Lock()
	defer lock.Unlock()
	// Whatever happens below, the next read goes to storage.
	defer b.creds.drop(credCacheKey(agent, cred))

	meta, err := getJSON[credMeta](ctx, req.Storage, credMetaKey(agent, cred))
	if err != nil {
		return nil, err
	}
	current := 0
	if meta != nil {
		current = meta.CurrentVersion
	}
	if in.cas != nil && *in.cas != current {
		return logical.ErrorResponse("cas: check-and-set mismatch: the current version is %d, not %d", current, *in.cas), nil
	}

	// Merge with the current version whenever there is one (under the lock:
	// two racing first writes must not lose each other's fields).
	var prev *credRecord
	if meta != nil {
		if prev, err = b.openVersion(ctx, req.Storage, st, cred, current); err != nil {
			return nil, err
		}
	}
	rec, resp := in.apply(prev)
	if resp != nil {
		return resp, nil
	}
	plaintext, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	if len(plaintext) > maxRecordBytes {
		return logical.ErrorResponse("fields: the credential is %d bytes in all, at most %d allowed", len(plaintext), maxRecordBytes), nil
	}

	now := b.now().UTC()
	if meta == nil {
		meta = &credMeta{MaxVersions: defaultMaxVersions, Versions: map[int]time.Time{}, CreatedAt: now}
	}
	if in.maxVersions != nil {
		meta.MaxVersions = *in.maxVersions
	}
	version := current + 1
	box, err := seal(st.kek, credAD(b.mountID, agent, cred, version), plaintext)
	clear(plaintext)
	if err != nil {
		return nil, err
	}
	if err := putJSON(ctx, req.Storage, credVersionKey(agent, cred, version), box); err != nil {
		return nil, err
	}
	meta.CurrentVersion, meta.UpdatedAt = version, now
	meta.Versions[version] = now
	meta.URL, meta.TOTPEnabled = rec.URL, rec.TOTP != nil
	var expired []int
	for v := range meta.Versions {
		if v <= version-meta.MaxVersions {
			expired = append(expired, v)
			delete(meta.Versions, v)
		}
	}
	if err := putJSON(ctx, req.Storage, credMetaKey(agent, cred), meta); err != nil {
		return nil, err
	}
	for _, v := range expired {
		if err := req.Storage.Delete(ctx, credVersionKey(agent, cred, v)); err != nil {
			return nil, err
		}
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

// openVersion reads and decrypts one version. A missing version is a 404;
// one that does not open is an error that says so, never stale data.
func (b *backend) openVersion(ctx context.Context, s logical.Storage, st *agentState, cred string, version int) (*credRecord, error) {
	box, err := b.readSealed(ctx, s, st.entry.Name, cred, version)
	if err != nil {
		return nil, err
	}
	if box == nil {
		return nil, logical.CodedError(http.StatusNotFound, fmt.Sprintf("version %d of credential %q does not exist", version, cred))
	}
	plaintext, err := open(st.kek, credAD(b.mountID, st.entry.Name, cred, version), box)
	if errors.Is(err, ErrDoesNotOpen) {
		// The text docs/api.md quotes, and clients see in the 500.
		return nil, fmt.Errorf("credential %q version %d: credential %w", cred, version, err)
	}
	if err != nil {
		return nil, fmt.Errorf("credential %q version %d: %w", cred, version, err)
	}
	defer clear(plaintext)
	rec := &credRecord{}
	if err := json.Unmarshal(plaintext, rec); err != nil {
		return nil, fmt.Errorf("credential %q version %d: decode: %w", cred, version, err)
	}
	return rec, nil
}

// loadCred resolves the credential and version a read names, and opens it.
// Decryption failures are audited as errors before they are returned.
func (b *backend) loadCred(ctx context.Context, req *logical.Request, st *agentState, cred string, version int, op string) (*credMeta, *credRecord, int, error) {
	meta, err := b.readCredMeta(ctx, req.Storage, st.entry.Name, cred)
	if err != nil {
		return nil, nil, 0, err
	}
	if meta == nil {
		return nil, nil, 0, logical.CodedError(http.StatusNotFound, fmt.Sprintf("agent %q has no credential %q", st.entry.Name, cred))
	}
	if version == 0 {
		version = meta.CurrentVersion
	}
	if _, ok := meta.Versions[version]; !ok {
		return nil, nil, 0, logical.CodedError(http.StatusNotFound, fmt.Sprintf("version %d of credential %q does not exist (current %d, %d kept)", version, cred, meta.CurrentVersion, len(meta.Versions)))
	}
	rec, err := b.openVersion(ctx, req.Storage, st, cred, version)
	if err != nil {
		ev := b.agentEvent(req, st.entry, op, outcomeError)
		ev.Credential, ev.Version, ev.Detail = cred, version, "credential did not decrypt"
		if rerr := b.record(ctx, req.Storage, subjectAgent, st.entry.Name, ev); rerr != nil {
			b.logger.Error("audit event for a failed decryption", "error", rerr)
		}
		return nil, nil, 0, err
	}
	return meta, rec, version, nil
}

func (b *backend) pathCredRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	agent, cred := d.Get("agent").(string), d.Get("cred").(string)
	version, resp := readVersionParam(d)
	if resp != nil {
		return resp, nil
	}
	if err := validateCredName(cred); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	st, resp, err := b.activeAgent(ctx, req, agent)
	if resp != nil || err != nil {
		return resp, b.deniedOnRevoked(ctx, req, st, opCredRead, cred, err)
	}
	meta, rec, version, err := b.loadCred(ctx, req, st, cred, version, opCredRead)
	if err != nil {
		return nil, err
	}
	ev := b.agentEvent(req, st.entry, opCredRead, outcomeSuccess)
	ev.Credential, ev.Version = cred, version
	if err := b.record(ctx, req.Storage, subjectAgent, agent, ev); err != nil {
		return nil, err
	}
	return &logical.Response{Data: credResponseData(st.entry, cred, version, meta, rec)}, nil
}

// credResponseData is the one place a credential becomes a response, and
// so the place where the TOTP seed is left out: only its parameters go.
func credResponseData(a *agentEntry, cred string, version int, meta *credMeta, rec *credRecord) map[string]interface{} {
	fields := rec.Fields
	if fields == nil {
		fields = map[string]string{}
	}
	totpInfo := map[string]interface{}{"enabled": rec.TOTP != nil}
	if t := rec.TOTP; t != nil {
		totpInfo["algorithm"], totpInfo["digits"], totpInfo["period"] = t.Algorithm, t.Digits, t.Period
		if t.Issuer != "" {
			totpInfo["issuer"] = t.Issuer
		}
		if t.Account != "" {
			totpInfo["account"] = t.Account
		}
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
		"version":          version,
		"current_version":  meta.CurrentVersion,
		"versions":         versions,
		"max_versions":     meta.MaxVersions,
		"created_at":       meta.Versions[version].Format(time.RFC3339Nano),
		"updated_at":       meta.UpdatedAt.Format(time.RFC3339Nano),
		"username":         rec.Username,
		"password":         rec.Password,
		"url":              rec.URL,
		"fields":           fields,
		"totp":             totpInfo,
	}
	if meta.LastLogin != nil {
		m["last_login"] = map[string]interface{}{"at": meta.LastLogin.At.Format(time.RFC3339Nano), "outcome": meta.LastLogin.Outcome}
	}
	return m
}

func readVersionParam(d *framework.FieldData) (int, *logical.Response) {
	v, ok, err := d.GetOkErr("version")
	if err != nil {
		return 0, logical.ErrorResponse("version: %v", err)
	}
	if !ok {
		return 0, nil
	}
	n := v.(int)
	if n < 0 {
		return 0, logical.ErrorResponse("version: must not be negative (0 is the current version), got %d", n)
	}
	return n, nil
}

func (b *backend) pathCredDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	agent, cred := d.Get("agent").(string), d.Get("cred").(string)
	if err := validateCredName(cred); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	st, resp, err := b.activeAgent(ctx, req, agent)
	if resp != nil || err != nil {
		return resp, b.deniedOnRevoked(ctx, req, st, opCredDelete, cred, err)
	}
	lock := locksutil.LockForKey(b.locks, credMetaKey(agent, cred))
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
	ev := b.agentEvent(req, st.entry, opCredDelete, outcomeSuccess)
	ev.Credential, ev.Version = cred, meta.CurrentVersion
	return nil, b.record(ctx, req.Storage, subjectAgent, agent, ev)
}

// deniedOnRevoked audits an attempt to use a revoked agent, then returns
// the original error (a 410 for the client).
func (b *backend) deniedOnRevoked(ctx context.Context, req *logical.Request, st *agentState, op, cred string, err error) error {
	if st == nil || st.active() || err == nil {
		return err
	}
	ev := b.agentEvent(req, st.entry, op, outcomeDenied)
	ev.Credential, ev.Detail = cred, "agent is revoked"
	if rerr := b.record(ctx, req.Storage, subjectAgent, st.entry.Name, ev); rerr != nil {
		return rerr
	}
	return err
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
