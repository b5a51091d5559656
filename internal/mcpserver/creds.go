package mcpserver

import (
	"context"
	"errors"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mailgent/mailgent/client"
)

// The credential vault's tools. get_credential is the one tool that
// returns a password (and the extra fields, which may hold API keys):
// storing, listing and enrolling never echo one.

func (h *handlers) addCredentialTools(s *mcp.Server) {
	mcp.AddTool(s, &mcp.Tool{Name: "get_credential", Title: "Get a stored credential",
		Description: "Read one of the agent's stored credentials by name, to log in with it: username, password, login URL, " +
			"extra fields and whether it has TOTP (algorithm, digits, period). This is the only tool that returns a password. " +
			"The TOTP seed is never returned: use totp_code for a code. Give version to read an older version; omit it for " +
			"the current one.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}}, h.getCredential)
	mcp.AddTool(s, &mcp.Tool{Name: "store_credential", Title: "Store a credential",
		Description: "Store a login in the agent's vault under a name (e.g. the site's domain): username, password, login url, " +
			"extra fields (API keys, security answers, …) and one-time backup_codes. Store a password BEFORE using it on a site, " +
			"so it is never lost. Each call makes a new version merged with the current one: what you omit keeps its stored " +
			"value; fields, when given, replaces all extra fields; backup_codes, when given, replaces the unused codes. Set cas " +
			"to the current version (0: the name must be new) to fail instead of overwriting a concurrent change. Returns the " +
			"new version; the password is not echoed. For TOTP use enroll_totp."}, h.storeCredential)
	mcp.AddTool(s, &mcp.Tool{Name: "list_credentials", Title: "List stored credentials",
		Description: "List the agent's stored credentials: name, login url, current version, whether TOTP is enrolled and " +
			"when it last changed, how many backup codes are left. No passwords, codes or seeds: use get_credential for one credential's login.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}}, h.listCredentials)
	mcp.AddTool(s, &mcp.Tool{Name: "use_backup_code", Title: "Use a one-time backup code",
		Description: "Hand out one unused one-time backup (recovery) code of a credential and mark it used, for when a site " +
			"asks for a recovery code instead of a TOTP code. Each code works once; remaining says how many are left. Use " +
			"totp_code instead whenever the site accepts a TOTP code."}, h.useBackupCode)
	mcp.AddTool(s, &mcp.Tool{Name: "report_login", Title: "Report a login attempt",
		Description: "Record in the agent's audit trail whether a login with a stored credential succeeded or failed, " +
			"with a short detail (e.g. \"dashboard reached\" or \"invalid password\"). Report every login attempt."}, h.reportLogin)
}

// GetCredentialIn names a credential and, optionally, a version.
type GetCredentialIn struct {
	Name    string `json:"name" jsonschema:"the credential's name, e.g. aws"`
	Version int    `json:"version,omitempty" jsonschema:"a version number; omit for the current version"`
}

// TOTPParams describe a credential's TOTP, never its seed.
type TOTPParams struct {
	Enabled   bool   `json:"enabled" jsonschema:"whether the credential has a TOTP seed (use totp_code)"`
	Algorithm string `json:"algorithm,omitempty"`
	Digits    int    `json:"digits,omitempty"`
	Period    int    `json:"period,omitempty"`
}

// CredentialOut is get_credential's answer: the login, without the seed.
type CredentialOut struct {
	Name     string            `json:"name"`
	Version  int               `json:"version"`
	Username string            `json:"username,omitempty"`
	Password string            `json:"password,omitempty"`
	URL      string            `json:"url,omitempty"`
	Fields   map[string]string `json:"fields,omitempty"`
	TOTP     TOTPParams        `json:"totp"`
	// BackupCodesRemaining counts unused recovery codes; the codes stay in the vault.
	BackupCodesRemaining int `json:"backup_codes_remaining" jsonschema:"unused one-time backup codes (use_backup_code hands one out)"`
}

func (h *handlers) getCredential(ctx context.Context, _ *mcp.CallToolRequest, in GetCredentialIn) (*mcp.CallToolResult, *CredentialOut, error) {
	if err := required("name", in.Name); err != nil {
		return nil, nil, err
	}
	cr, err := h.c.GetCredential(ctx, in.Name, in.Version)
	if err != nil {
		return nil, nil, err
	}
	return nil, &CredentialOut{
		Name: in.Name, Version: cr.Version, Username: cr.Username, Password: cr.Password, URL: cr.URL, Fields: cr.Fields,
		TOTP:                 TOTPParams{Enabled: cr.TOTP.Enabled, Algorithm: cr.TOTP.Algorithm, Digits: cr.TOTP.Digits, Period: cr.TOTP.Period},
		BackupCodesRemaining: cr.BackupCodesRemaining,
	}, nil
}

// StoreCredentialIn is a credential write; what is omitted is kept.
type StoreCredentialIn struct {
	Name        string            `json:"name" jsonschema:"the credential's name, e.g. the site's domain"`
	Username    string            `json:"username,omitempty" jsonschema:"login name; omit to keep the stored one"`
	Password    string            `json:"password,omitempty" jsonschema:"password; omit to keep the stored one"`
	URL         string            `json:"url,omitempty" jsonschema:"the site's login URL (absolute); omit to keep the stored one"`
	Fields      map[string]string `json:"fields,omitempty" jsonschema:"extra secret key/value pairs; when given they replace all stored extra fields"`
	BackupCodes []string          `json:"backup_codes,omitempty" jsonschema:"one-time recovery codes the site gave; when given they replace the stored set ([] removes it)"`
	CAS         *int              `json:"cas,omitempty" jsonschema:"check-and-set: the current version this write expects (0: the credential must not exist yet)"`
}

// StoreCredentialOut is the version a write made.
type StoreCredentialOut struct {
	Name    string `json:"name"`
	Version int    `json:"version" jsonschema:"the credential's new current version"`
}

func (h *handlers) storeCredential(ctx context.Context, _ *mcp.CallToolRequest, in StoreCredentialIn) (*mcp.CallToolResult, *StoreCredentialOut, error) {
	if err := required("name", in.Name); err != nil {
		return nil, nil, err
	}
	if in.Username == "" && in.Password == "" && in.URL == "" && in.Fields == nil && in.BackupCodes == nil {
		return nil, nil, errors.New("nothing to store: give at least one of username, password, url, fields or backup_codes")
	}
	v, err := h.c.StoreCredential(ctx, in.Name, client.Credential{
		Username: in.Username, Password: in.Password, URL: in.URL, Fields: in.Fields, BackupCodes: in.BackupCodes,
	}, in.CAS)
	if err != nil {
		return nil, nil, err
	}
	return nil, &StoreCredentialOut{Name: in.Name, Version: v}, nil
}

// ListCredentialsIn takes no argument.
type ListCredentialsIn struct{}

// CredentialSummary is a listed credential: no secret.
type CredentialSummary struct {
	Name           string `json:"name"`
	URL            string `json:"url,omitempty"`
	CurrentVersion int    `json:"current_version"`
	TOTPEnabled    bool   `json:"totp_enabled"`
	UpdatedAt      string `json:"updated_at"`
	// BackupCodesRemaining counts unused recovery codes; the codes stay in the vault.
	BackupCodesRemaining int `json:"backup_codes_remaining" jsonschema:"unused one-time backup codes (use_backup_code hands one out)"`
}

// ListCredentialsOut lists the agent's credentials.
type ListCredentialsOut struct {
	Credentials []CredentialSummary `json:"credentials"`
}

func (h *handlers) listCredentials(ctx context.Context, _ *mcp.CallToolRequest, _ ListCredentialsIn) (*mcp.CallToolResult, *ListCredentialsOut, error) {
	list, err := h.c.CredentialSummaries(ctx)
	if err != nil {
		return nil, nil, err
	}
	out := &ListCredentialsOut{Credentials: []CredentialSummary{}}
	for _, c := range list {
		out.Credentials = append(out.Credentials, CredentialSummary{Name: c.Name, URL: c.URL, CurrentVersion: c.CurrentVersion,
			TOTPEnabled: c.TOTPEnabled, UpdatedAt: c.UpdatedAt, BackupCodesRemaining: c.BackupCodesRemaining})
	}
	return nil, out, nil
}

// UseBackupCodeIn names the credential whose code to use.
type UseBackupCodeIn struct {
	Name string `json:"name" jsonschema:"the credential's name"`
}

// UseBackupCodeOut is one recovery code, now marked used.
type UseBackupCodeOut struct {
	Code      string `json:"code" jsonschema:"a one-time recovery code; it is now used up"`
	Remaining int    `json:"remaining" jsonschema:"unused codes left"`
}

func (h *handlers) useBackupCode(ctx context.Context, _ *mcp.CallToolRequest, in UseBackupCodeIn) (*mcp.CallToolResult, *UseBackupCodeOut, error) {
	if err := required("name", in.Name); err != nil {
		return nil, nil, err
	}
	bc, err := h.c.BackupCode(ctx, in.Name)
	if err != nil {
		return nil, nil, err
	}
	return nil, &UseBackupCodeOut{Code: bc.Code, Remaining: bc.Remaining}, nil
}

// ReportLoginIn is a login attempt's outcome.
type ReportLoginIn struct {
	Credential string `json:"credential" jsonschema:"the credential's name"`
	Success    bool   `json:"success" jsonschema:"true if the login succeeded"`
	Detail     string `json:"detail,omitempty" jsonschema:"what happened, briefly"`
}

// ReportLoginOut confirms the report.
type ReportLoginOut struct {
	Recorded bool `json:"recorded"`
}

func (h *handlers) reportLogin(ctx context.Context, _ *mcp.CallToolRequest, in ReportLoginIn) (*mcp.CallToolResult, *ReportLoginOut, error) {
	if err := required("credential", in.Credential); err != nil {
		return nil, nil, err
	}
	if err := h.c.ReportLogin(ctx, in.Credential, in.Success, in.Detail); err != nil {
		return nil, nil, err
	}
	return nil, &ReportLoginOut{Recorded: true}, nil
}
