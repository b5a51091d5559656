package plugin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// Recovery codes: the one-time backup codes a site hands out at 2FA
// enrolment. They are sealed in the credential record beside the password
// (backup_codes on a write); which of them were handed out is in the
// credential's plaintext metadata (credMeta.Backup) as indexes only, so
// taking one is a single metadata write and makes no new version. Reads
// show how many remain, never a code; agents/:agent/creds/:cred/backup-code
// hands out the next unused one.

// Bounds of backup_codes.
const (
	maxBackupCodes   = 64
	maxBackupCodeLen = 128
)

// backupCodeState is what the metadata knows of a credential's current set
// of backup codes: no code, only which were handed out.
type backupCodeState struct {
	// Set is the random ID of the set, also in the sealed record
	// (credRecord.BackupSet): a set written anew starts with none used.
	Set string `json:"set"`
	// Total is how many codes the set has.
	Total int `json:"total"`
	// Used lists the indexes handed out, in order.
	Used []int `json:"used,omitempty"`
}

// remaining is how many codes of the set backup-code can still hand out.
func (s *backupCodeState) remaining() int {
	if s == nil {
		return 0
	}
	return s.Total - len(s.Used)
}

// backupCodesRemaining is what a read of rec shows: the unused codes of its
// set when that is the current set, and 0 for a set replaced since (no
// code of it can be handed out any more).
func backupCodesRemaining(meta *credMeta, rec *credRecord) int {
	if rec.BackupSet == "" || meta.Backup == nil || meta.Backup.Set != rec.BackupSet {
		return 0
	}
	return meta.Backup.remaining()
}

// readBackupCodes reads backup_codes: a list (or one comma-separated
// string) of distinct codes; an empty list removes them. No error echoes a
// code.
func (in *credInput) readBackupCodes(d *framework.FieldData) *logical.Response {
	if _, ok := d.Raw["backup_codes"]; !ok {
		return nil
	}
	v, _, err := d.GetOkErr("backup_codes")
	if err != nil {
		return logical.ErrorResponse("backup_codes: must be a list of strings (or one comma-separated string)")
	}
	codes := v.([]string)
	if len(codes) > maxBackupCodes {
		return logical.ErrorResponse("backup_codes: %d codes, at most %d allowed", len(codes), maxBackupCodes)
	}
	seen := make(map[string]int, len(codes))
	for i, c := range codes {
		if err := checkBackupCode(c); err != nil {
			return logical.ErrorResponse("backup_codes[%d]: %v", i, err)
		}
		if j, dup := seen[c]; dup {
			return logical.ErrorResponse("backup_codes[%d]: repeats backup_codes[%d]", i, j)
		}
		seen[c] = i
	}
	in.backupCodes, in.hasBackupCodes = codes, true
	if len(codes) > 0 {
		var id [8]byte
		if _, err := rand.Read(id[:]); err != nil {
			return logical.ErrorResponse("backup_codes: %v", err)
		}
		in.backupSet = hex.EncodeToString(id[:])
	}
	return nil
}

// checkBackupCode accepts printable text without control characters.
func checkBackupCode(c string) error {
	switch {
	case c == "":
		return fmt.Errorf("is empty")
	case len(c) > maxBackupCodeLen:
		return fmt.Errorf("is %d bytes, at most %d allowed", len(c), maxBackupCodeLen)
	case checkText("code", c, maxBackupCodeLen) != nil || strings.IndexFunc(c, unicode.IsControl) >= 0:
		return fmt.Errorf("must be printable text")
	}
	return nil
}

// applyBackupCodes sets a written set of codes on the record and, as a new
// set with none used, on the metadata.
func (in *credInput) applyBackupCodes(r *credRecord, meta *credMeta) {
	if !in.hasBackupCodes {
		return
	}
	r.BackupCodes, r.BackupSet, meta.Backup = nil, "", nil
	if len(in.backupCodes) > 0 {
		r.BackupCodes, r.BackupSet = slices.Clone(in.backupCodes), in.backupSet
		meta.Backup = &backupCodeState{Set: in.backupSet, Total: len(in.backupCodes)}
	}
}

func (b *backend) pathBackupCode() []*framework.Path {
	return []*framework.Path{{
		Pattern:      "agents/" + namePattern("agent") + "/creds/" + namePattern("cred") + "/backup-code$",
		DisplayAttrs: pathDisplay("backup-code"),
		Fields: map[string]*framework.FieldSchema{
			"agent": agentField(),
			"cred":  credField(),
		},
		Operations:     writeOperations(withAgent(b, opBackupCode, readBackupCodeRequest, b.pathBackupCodeTake), opVerb("take")),
		ExistenceCheck: func(context.Context, *logical.Request, *framework.FieldData) (bool, error) { return false, nil },
		HelpSynopsis:   "Hand out one unused recovery (backup) code of the credential and mark it used.",
		HelpDescription: `Returns code and remaining. Each code is handed out once, in the order
written; none left is a 409. Writing backup_codes on the credential
replaces the set, with none used.`,
	}}
}

func readBackupCodeRequest(d *framework.FieldData) (string, *logical.Response) {
	if resp := rejectUnknownFields(d); resp != nil {
		return "", resp
	}
	return readCredName(d)
}

// pathBackupCodeTake hands out the next unused backup code. The steps:
//
//  1. lock the credential; read its metadata from storage (not the cache:
//     this is a read-modify-write) and open its current version;
//  2. none of the current set left: 409, recorded as denied;
//  3. mark the first unused code used in the metadata, and store it;
//  4. record cred.backup_code; if that fails the code is unused again and
//     the error returned, so a code is never handed out unrecorded.
func (b *backend) pathBackupCodeTake(ctx context.Context, req *logical.Request, st *agentState, cred string) (*logical.Response, error) {
	agent := st.entry.Name
	lock := b.credLock(agent, cred)
	lock.Lock()
	defer lock.Unlock()
	// Dropped before too, so loadCred sees the metadata read here.
	b.creds.drop(credCacheKey(agent, cred))
	defer b.creds.drop(credCacheKey(agent, cred))
	meta, err := getJSON[credMeta](ctx, req.Storage, credMetaKey(agent, cred))
	if err != nil {
		return nil, err
	}
	if meta == nil {
		return nil, logical.CodedError(http.StatusNotFound, fmt.Sprintf("agent %q has no credential %q", agent, cred))
	}
	c, err := b.loadCred(ctx, req, st, cred, meta.CurrentVersion, opBackupCode)
	if err != nil {
		return nil, err
	}
	index := nextBackupCode(meta.Backup, c.rec)
	if index < 0 {
		return nil, b.noBackupCode(ctx, req, st, cred, c.version, meta.Backup)
	}
	before := meta.Backup.Used
	meta.Backup.Used = append(slices.Clone(before), index)
	if err := putJSON(ctx, req.Storage, credMetaKey(agent, cred), meta); err != nil {
		return nil, err
	}
	ev := b.agentEvent(req, st.entry, opBackupCode, outcomeSuccess)
	ev.Credential, ev.Version = cred, c.version
	ev.Detail = fmt.Sprintf("%d of %d backup codes remain", meta.Backup.remaining(), meta.Backup.Total)
	if err := b.record(ctx, req.Storage, subjectAgent, agent, ev); err != nil {
		meta.Backup.Used = before
		if rerr := putJSON(ctx, req.Storage, credMetaKey(agent, cred), meta); rerr != nil {
			b.logger.Error("restore an unrecorded backup code", "agent", agent, "credential", cred, "error", rerr)
		}
		return nil, err
	}
	return &logical.Response{Data: map[string]interface{}{
		"agent":      agent,
		"credential": cred,
		"code":       c.rec.BackupCodes[index],
		"remaining":  meta.Backup.remaining(),
		"version":    c.version,
	}}, nil
}

// nextBackupCode is the index of the first unused code of the current set,
// or -1.
func nextBackupCode(s *backupCodeState, rec *credRecord) int {
	if s == nil || rec.BackupSet != s.Set || len(rec.BackupCodes) != s.Total {
		return -1
	}
	for i := range rec.BackupCodes {
		if !slices.Contains(s.Used, i) {
			return i
		}
	}
	return -1
}

// noBackupCode records the denial and returns the 409.
func (b *backend) noBackupCode(ctx context.Context, req *logical.Request, st *agentState, cred string, version int, s *backupCodeState) error {
	msg := fmt.Sprintf("credential %q has no backup codes; write backup_codes first", cred)
	if s != nil {
		msg = fmt.Sprintf("credential %q has no unused backup code left (all %d handed out); write new backup_codes", cred, s.Total)
	}
	ev := b.agentEvent(req, st.entry, opBackupCode, outcomeDenied)
	ev.Credential, ev.Version, ev.Detail = cred, version, "no unused backup code"
	if err := b.record(ctx, req.Storage, subjectAgent, st.entry.Name, ev); err != nil {
		return err
	}
	return logical.CodedError(http.StatusConflict, msg)
}
