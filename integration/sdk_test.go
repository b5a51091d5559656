package integration

import (
	"bufio"
	"context"
	"encoding/base32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/harness"
	"github.com/mailgent/mailgent/internal/onboard"
	"github.com/mailgent/mailgent/internal/rfc6238"
)

// systemPython is Debian's python3 (>= 3.11, as the Python SDK requires).
const systemPython = "/usr/bin/python3"

// sdkSeed is the TOTP seed the stories store: RFC 6238's SHA-1 test key.
var sdkSeed = []byte("12345678901234567890")

// TestSDKs runs the Python and TypeScript SDKs' own unit tests, then each
// SDK's story (sdk/python/tests/story.py, sdk/typescript/test/story.ts) and
// the Python example as onboarded agents against one real stack: AppRole
// login with a wrapped secret ID, credentials without seeds, TOTP codes,
// TOTP enrolled from a QR image, fresh codes, recovery codes, a thread,
// wait_for_code returning the verified code and never a forged one, trust
// fields, a send reaching "sent", a login report, and Vault's 404, 408 and
// 410 as the SDKs' errors.
func TestSDKs(t *testing.T) {
	root := harness.RepoRoot(t)
	pyDir := filepath.Join(root, "sdk", "python")
	tsDir := filepath.Join(root, "sdk", "typescript")
	node := requireNode(t)
	buildTypeScriptSDK(t, tsDir)

	t.Run("python-unit", func(t *testing.T) {
		cmd := exec.Command(systemPython, "-m", "unittest", "discover", "-s", "tests", "-v")
		cmd.Dir, cmd.Env = pyDir, pythonEnv(t, pyDir)
		runOK(t, cmd)
	})
	t.Run("typescript-unit", func(t *testing.T) {
		cmd := exec.Command("npm", "test")
		cmd.Dir = tsDir
		runOK(t, cmd)
	})

	s := startInbound(t)
	t.Run("python-story", func(t *testing.T) {
		cmd := exec.Command(systemPython, filepath.Join(pyDir, "tests", "story.py"))
		cmd.Env = pythonEnv(t, pyDir)
		s := s.in(t)
		checkStory(t, s, "py-sdk", "271828", runStory(t, s, "py-sdk", "271828", cmd))
	})
	t.Run("typescript-story", func(t *testing.T) {
		cmd := exec.Command(node, filepath.Join(tsDir, "dist-test", "test", "story.js"))
		cmd.Env = cleanEnv(t)
		s := s.in(t)
		checkStory(t, s, "ts-sdk", "314159", runStory(t, s, "ts-sdk", "314159", cmd))
	})
	t.Run("python-example", func(t *testing.T) {
		testPythonExample(t, s.in(t), filepath.Join(root, "examples", "python", "signup_agent.py"), pyDir)
	})
}

// in is the stack for a subtest: its failures end the subtest, not the parent.
func (s *inboundStack) in(t *testing.T) *inboundStack {
	return &inboundStack{Stack: s.Stack, t: t, rec: &recorder{t: t, addr: s.Vault.Addr}, service: s.service}
}

// requireNode fails (never skips) without Node >= 20: the TypeScript SDK needs its fetch.
func requireNode(t *testing.T) string {
	t.Helper()
	const install = "make test-deps installs the Debian packages nodejs and npm"
	node, err := exec.LookPath("node")
	require.NoError(t, err, "node is not installed: the TypeScript SDK's tests need Node >= 20 and npm (%s)", install)
	_, err = exec.LookPath("npm")
	require.NoError(t, err, "npm is not installed: the TypeScript SDK's tests need it (%s)", install)
	out, err := exec.Command(node, "--version").Output()
	require.NoError(t, err)
	major, _ := strconv.Atoi(strings.SplitN(strings.TrimPrefix(strings.TrimSpace(string(out)), "v"), ".", 2)[0])
	require.GreaterOrEqual(t, major, 20, "node %s is too old: the TypeScript SDK needs Node >= 20", strings.TrimSpace(string(out)))
	return node
}

// buildTypeScriptSDK installs the locked dev dependencies when the lock file
// is newer than node_modules (npm ci, from npm's cache when it can) and
// compiles the SDK and its tests (incrementally).
func buildTypeScriptSDK(t *testing.T, dir string) {
	t.Helper()
	lock, err := os.Stat(filepath.Join(dir, "package-lock.json"))
	require.NoError(t, err)
	installed, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	if err != nil || installed.ModTime().Before(lock.ModTime()) {
		cmd := exec.Command("npm", "ci", "--prefer-offline", "--no-audit", "--no-fund")
		cmd.Dir = dir
		runOK(t, cmd)
	}
	cmd := exec.Command("npm", "run", "build")
	cmd.Dir = dir
	runOK(t, cmd)
}

func runOK(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s:\n%s", strings.Join(cmd.Args, " "), out)
	t.Logf("%s: %s", strings.Join(cmd.Args, " "), lastLines(string(out), 8))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// cleanEnv has no VAULT_TOKEN (the SDK must use its own) and no proxy.
func cleanEnv(t *testing.T) []string {
	return []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}
}

// pythonEnv runs the SDK from its source tree: PyPI is out of reach here, so
// an isolated pip build could not fetch setuptools, and this tests exactly
// the committed files (tests/test_package.py checks pyproject.toml).
func pythonEnv(t *testing.T, pyDir string) []string {
	return append(cleanEnv(t), "PYTHONPATH="+filepath.Join(pyDir, "src"), "PYTHONDONTWRITEBYTECODE=1")
}

// storyEnv is what an onboarded agent is given, plus the story's inputs.
func storyEnv(s *inboundStack, agent string, res *onboard.Result) []string {
	return []string{
		"VAULT_ADDR=" + s.Vault.Addr,
		"MAILGENT_AGENT=" + agent,
		"MAILGENT_ROLE_ID=" + res.RoleID,
		"MAILGENT_WRAPPED_SECRET_ID=" + res.WrappingToken,
		"MAILGENT_CRED_PASSWORD=" + storyPassword(agent),
		"MAILGENT_TOTP_SECRET=" + base32.StdEncoding.EncodeToString(sdkSeed),
		"MAILGENT_WAIT_FROM=" + serviceDomain,
		"MAILGENT_SEND_TO=finance@corp.example",
		"MAILGENT_QR_IMAGE=" + qrCorpus(s.t, "png-h-logo.png"),
	}
}

func storyPassword(agent string) string { return "pw-" + agent + "-5f0c2a" }

// runStory onboards agent, runs cmd as it and answers the story's cues:
// mail at "waiting" (two forgeries, stored first, then the real code), and a
// revocation at "revoke". It returns the story's lines by key.
func runStory(t *testing.T, s *inboundStack, agent, code string, cmd *exec.Cmd) map[string][]string {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res := s.onboardAgent(ctx, agent)
	cmd.Env = append(cmd.Env, storyEnv(s, agent, res)...)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	go func() { <-ctx.Done(); _ = cmd.Process.Kill() }()

	out := map[string][]string{}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		t.Logf("story: %s", sc.Text())
		k, v, _ := strings.Cut(sc.Text(), ": ")
		out[k] = append(out[k], v)
		switch k {
		case "waiting":
			s.mailCodeWithForgeries(agent, code)
		case "revoke":
			s.checkStoredThenRevoke(agent)
			_, err := io.WriteString(stdin, "revoked\n")
			require.NoError(t, err)
		}
	}
	require.NoError(t, cmd.Wait(), "stderr: %s", stderr.String())
	for _, secret := range []string{storyPassword(agent), base32.StdEncoding.EncodeToString(sdkSeed), res.WrappingToken} {
		require.NotContains(t, stderr.String(), secret)
		for k, vs := range out {
			require.NotContains(t, strings.Join(vs, "\n"), secret, "a secret in the story's %q lines", k)
		}
	}
	return out
}

// mailCodeWithForgeries mails two forgeries of the service's code mail, waits
// until both are stored, then the real one, DKIM-signed by the service.
func (s *inboundStack) mailCodeWithForgeries(agent, code string) {
	t, to := s.t, agent+"@"+s.Domain
	// The service's name as a display name, from the attacker's own domain.
	require.NoError(t, s.send("x@evil.example", to, trustMail(`"service.example.com" <x@evil.example>`, to, "111111", "https://evil.example/verify?token=a1b2c3d4e5f6")))
	// The service's address, unsigned, from an envelope sender its SPF does not vouch for.
	require.NoError(t, harness.SendMail(s.Relay.Addr, nil, "sender.example.org", "x@evil.example", []string{to},
		trustMail("Example Service <no-reply@service.example.com>", to, "222222", "https://service.example.com/verify?token=a1b2c3d4e5f6")))
	require.Eventually(t, func() bool {
		return s.rec.must(s.Vault.Token, "GET", "mailgent/agents/"+agent, nil)["messages_total"] == float64(2)
	}, 20*time.Second, 50*time.Millisecond)
	require.NoError(t, s.send("no-reply@"+serviceDomain, to,
		trustMail("Example Service <no-reply@service.example.com>", to, code, "https://service.example.com/verify?token=z9y8x7w6v5u4")))
}

// checkStoredThenRevoke checks what the story stored, as an admin sees it,
// then revokes the agent.
func (s *inboundStack) checkStoredThenRevoke(agent string) {
	t := s.t
	cred := s.rec.must(s.Vault.Token, "GET", "mailgent/agents/"+agent+"/creds/site.example.com", nil)
	require.Equal(t, storyPassword(agent)+"-2", cred["password"])
	require.Equal(t, map[string]interface{}{"api_key": "ak-" + storyPassword(agent)}, cred["fields"])
	require.NotContains(t, cred, "totp_secret")
	require.Equal(t, "success", cred["last_login"].(map[string]interface{})["outcome"])
	s.rec.must(s.Vault.Token, "DELETE", "mailgent/agents/"+agent, nil)
}

// checkStory checks the lines both stories print.
func checkStory(t *testing.T, s *inboundStack, agent, code string, out map[string][]string) {
	to := agent + "@" + s.Domain
	one := func(k string) string {
		t.Helper()
		require.Len(t, out[k], 1, "story line %q", k)
		return out[k][0]
	}
	require.Equal(t, to, one("address"))
	require.Regexp(t, `^human:.+ > org:acme > agent:`+agent+`$`, one("delegation_chain"))
	require.Equal(t, "1 totp_enabled=true", one("stored"))
	require.Equal(t, "2", one("updated"))
	require.Equal(t, "400 cas: check-and-set mismatch: the current version is 2, not 1", one("cas_error"))
	require.Equal(t, "version=2 versions=1,2 username="+to+" url=https://site.example.com/login totp=SHA1/6/30 fields=api_key", one("credential"))
	require.Equal(t, "site.example.com", one("credentials"))

	totp, validUntil, ok := strings.Cut(one("totp"), " valid_until=")
	require.True(t, ok)
	until, err := time.Parse(time.RFC3339, validUntil)
	require.NoError(t, err)
	require.Equal(t, rfc6238.Code(sdkSeed, "SHA1", 6, 30, until.Add(-30*time.Second)), totp)

	checkToolkit(t, out, one)

	require.Equal(t, code, one("code"))
	require.Equal(t, "trust=verified sender_domain=service.example.com unread=false", one("mail"))
	require.Equal(t, "kind=verify host=service.example.com aligned=true", out["link"][0])
	checkListed(t, out["listed"], code)
	require.Regexp(t, `^408 no matching unread message arrived within 1s`, one("error_timeout"))

	require.Equal(t, "queued attachments=1", one("sent_queued"))
	require.Equal(t, "sent subject=Hello from the SDK", one("sent"))
	require.Equal(t, "true", one("sent_listed"))
	require.Equal(t, "messages=2 kinds=inbox,sent sent_to=finance@corp.example", one("thread"))
	require.Regexp(t, `^success \S+$`, one("login_report"))
	require.Equal(t, `404 agent "`+agent+`" has no credential "missing.example"`, one("error_missing"))
	require.Regexp(t, `^410 agent "`+agent+`" was revoked at `, one("error_revoked"))
	require.Equal(t, "ok", one("done"))
}

// checkListed: the real mail verified, both forgeries listed unverified, with a reason.
func checkListed(t *testing.T, listed []string, real string) {
	t.Helper()
	require.Len(t, listed, 3)
	byCode := map[string]string{}
	for _, l := range listed {
		c, rest, _ := strings.Cut(l, " ")
		byCode[c] = rest
	}
	require.Regexp(t, `^trust=verified sender_domain=service\.example\.com reason=dmarc=pass`, byCode[real])
	require.Regexp(t, `^trust=unverified sender_domain=evil\.example reason=\S`, byCode["111111"])
	require.Regexp(t, `^trust=unverified sender_domain=service\.example\.com reason=dmarc=fail`, byCode["222222"])
}

// testPythonExample runs examples/python/signup_agent.py (the SDK) as an
// onboarded agent: it waits for the code, which is then mailed.
func testPythonExample(t *testing.T, s *inboundStack, script, pyDir string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res := s.onboardAgent(ctx, "py-example")
	cmd := exec.CommandContext(ctx, systemPython, script,
		"--cred", "site.example.com", "--url", "https://site.example.com/login", "--wait-from", serviceDomain, "--timeout", "20")
	cmd.Env = append(pythonEnv(t, pyDir), storyEnv(s, "py-example", res)...)
	cmd.Env = append(cmd.Env, "MAILGENT_CRED_TOTP_SECRET="+base32.StdEncoding.EncodeToString(sdkSeed))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	out := map[string]string{}
	to := "py-example@" + s.Domain
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		t.Logf("example: %s", sc.Text())
		k, v, _ := strings.Cut(sc.Text(), ": ")
		out[k] = v
		if k == "waiting" {
			require.NoError(t, s.send("no-reply@"+serviceDomain, to, verificationMail(to, "161803")))
		}
	}
	require.NoError(t, cmd.Wait(), "stderr: %s", stderr.String())

	require.Equal(t, to, out["address"])
	require.Equal(t, "site.example.com version 1 totp_enabled=true", out["credential"])
	code, validUntil, ok := strings.Cut(out["totp"], " valid_until=")
	require.True(t, ok, "totp line: %q", out["totp"])
	until, err := time.Parse(time.RFC3339, validUntil)
	require.NoError(t, err)
	require.Equal(t, rfc6238.Code(sdkSeed, "SHA1", 6, 30, until.Add(-30*time.Second)), code)
	require.Contains(t, out["mail"], "from no-reply@service.example.com (verified)")
	require.Equal(t, "161803", out["code"])
	require.Regexp(t, `^success event \S+$`, out["login"])

	cred := s.rec.must(s.Vault.Token, "GET", "mailgent/agents/py-example/creds/site.example.com", nil)
	require.Equal(t, storyPassword("py-example"), cred["password"])
	require.Equal(t, to, cred["username"])
	require.NotContains(t, cred, "totp_secret")
	require.Equal(t, "success", cred["last_login"].(map[string]interface{})["outcome"])
}

// checkToolkit checks the story's credential toolkit lines: the QR image
// enrolled (and a bad one refused), a plain code then two fresh ones of
// later steps each (period 1, the RFC seed), recovery codes once each.
func checkToolkit(t *testing.T, out map[string][]string, one func(string) string) {
	t.Helper()
	require.Equal(t, "1 totp_enabled=true issuer=GitHub", one("qr_enrolled"))
	require.Equal(t, "400 totp_qr: is not a PNG, JPEG or GIF image", one("qr_error"))
	require.Len(t, out["fresh"], 3)
	var last time.Time
	for i, l := range out["fresh"] {
		code, validUntil, ok := strings.Cut(l, " valid_until=")
		require.True(t, ok, l)
		until, err := time.Parse(time.RFC3339, validUntil)
		require.NoError(t, err)
		require.Equal(t, rfc6238.Code(sdkSeed, "SHA1", 6, 1, until.Add(-time.Second)), code, "fresh line %d", i)
		require.True(t, until.After(last), "fresh line %d: step %s is not after %s", i, until, last)
		last = until
	}
	require.Equal(t, "2", one("backup_remaining"))
	require.Equal(t, []string{"bk-1111-2222 remaining=1", "bk-3333-4444 remaining=0"}, out["backup_code"])
	require.Equal(t, `409 credential "site.example.com" has no unused backup code left (all 2 handed out); write new backup_codes`, one("backup_error"))
}
