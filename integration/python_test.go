package integration

import (
	"bufio"
	"context"
	"encoding/base32"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/rfc6238"
)

// systemPython is Debian's python3, where the python3-hvac package installs hvac.
const systemPython = "/usr/bin/python3"

// TestPythonAgentScript runs examples/python/signup_agent.py (hvac) as an
// onboarded agent against the real stack: AppRole login with the wrapped
// secret ID, a stored credential, a TOTP code, a verification code mailed
// through the relay while the script waits, and a login report.
func TestPythonAgentScript(t *testing.T) {
	if err := exec.Command(systemPython, "-c", "import hvac").Run(); err != nil {
		t.Fatalf("%s cannot import hvac (make test-deps installs the Debian package python3-hvac): %v", systemPython, err)
	}
	script, err := filepath.Abs("../examples/python/signup_agent.py")
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := startInbound(t)
	res := s.onboardAgent(ctx, "py-bot")

	seed := []byte("12345678901234567890")
	cmd := exec.CommandContext(ctx, systemPython, script,
		"--cred", "site.example.com", "--url", "https://site.example.com/login",
		"--wait-from", "service.example.com", "--timeout", "20")
	// A clean environment: no VAULT_TOKEN (the script must use its own), no proxy.
	cmd.Env = []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + t.TempDir(),
		"VAULT_ADDR=" + s.Vault.Addr,
		"MAILGENT_MOUNT=mailgent",
		"MAILGENT_AGENT=py-bot",
		"MAILGENT_ROLE_ID=" + res.RoleID,
		"MAILGENT_WRAPPED_SECRET_ID=" + res.WrappingToken,
		"MAILGENT_CRED_PASSWORD=pw-py-123456",
		"MAILGENT_CRED_TOTP_SECRET=" + base32.StdEncoding.EncodeToString(seed),
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	// Read the script's "key: value" lines; mail the code once it waits.
	out := map[string]string{}
	to := "py-bot@" + s.Domain
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		t.Logf("script: %s", line)
		k, v, _ := strings.Cut(line, ": ")
		out[k] = v
		if k == "waiting" {
			require.NoError(t, s.send("no-reply@service.example.com", to, verificationMail(to, "271828")))
		}
	}
	require.NoError(t, cmd.Wait(), "stderr: %s", stderr.String())

	require.Equal(t, to, out["address"])
	require.True(t, strings.HasPrefix(out["delegation_chain"], "human:") &&
		strings.HasSuffix(out["delegation_chain"], " > org:acme > agent:py-bot"), "chain: %q", out["delegation_chain"])
	require.Equal(t, "site.example.com version 1 totp_enabled=true", out["credential"])
	code, validUntil, ok := strings.Cut(out["totp"], " valid_until=")
	require.True(t, ok, "totp line: %q", out["totp"])
	until, err := time.Parse(time.RFC3339, validUntil)
	require.NoError(t, err)
	require.Equal(t, rfc6238.Code(seed, "SHA1", 6, 30, until.Add(-30*time.Second)), code)
	require.Equal(t, "271828", out["code"])
	require.True(t, strings.HasPrefix(out["login"], "success event "), "login line: %q", out["login"])

	// What the script did is in Vault: the credential (seed kept write-only)
	// and its last login.
	cred, err := s.Vault.Client.Logical().ReadWithContext(ctx, "mailgent/agents/py-bot/creds/site.example.com")
	require.NoError(t, err)
	require.Equal(t, "pw-py-123456", cred.Data["password"])
	require.Equal(t, to, cred.Data["username"])
	require.Equal(t, "https://site.example.com/login", cred.Data["url"])
	require.NotContains(t, cred.Data, "totp_secret")
	last, _ := cred.Data["last_login"].(map[string]interface{})
	require.Equal(t, "success", last["outcome"])

	// The wrapped secret ID is spent: a second unwrap fails.
	wc, err := s.Vault.Client.Clone()
	require.NoError(t, err)
	wc.SetToken(res.WrappingToken)
	_, err = wc.Logical().UnwrapWithContext(ctx, "")
	require.Error(t, err)
}
