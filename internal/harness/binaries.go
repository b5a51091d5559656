package harness

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Tool returns the path of a pinned server in bin/ (vault, nats-server,
// mailpit). A missing one is built with `make tools`: nothing is skipped
// for want of a binary.
func Tool(tb testing.TB, name string) string {
	tb.Helper()
	root := RepoRoot(tb)
	path := filepath.Join(root, "bin", name)
	toolsMu.Lock()
	defer toolsMu.Unlock()
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tb.Logf("harness: %s missing, running make tools (Vault takes minutes the first time)", path)
	cmd := exec.Command("make", "-C", root, "tools")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("make tools: %v\n%s", err, out)
	}
	if _, err := os.Stat(path); err != nil {
		tb.Fatalf("make tools did not produce %s", path)
	}
	return path
}

var toolsMu sync.Mutex

// Own returns a freshly built binary of ours (vault-plugin-mailgent,
// mailgent-relay, …), built once per test process from the working tree so a
// test never runs a stale build. Go's build cache makes this cheap.
func Own(tb testing.TB, name string) string {
	tb.Helper()
	return OwnAt(tb, name, "./cmd/"+name)
}

// OwnAt is Own for the main package at pkg (a path from the repository
// root), built as name.
func OwnAt(tb testing.TB, name, pkg string) string {
	tb.Helper()
	ownMu.Lock()
	defer ownMu.Unlock()
	if p, ok := ownBuilt[name]; ok {
		return p
	}
	root := RepoRoot(tb)
	dir := filepath.Join(root, ".data", "test-bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	// Build under a private name and rename: packages testing in parallel
	// may build the same binary at the same time.
	tmp := filepath.Join(dir, fmt.Sprintf(".%s.%d", name, os.Getpid()))
	cmd := exec.Command("go", "build", "-o", tmp, pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	path := filepath.Join(dir, name)
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
	ownBuilt[name] = path
	return path
}

var (
	ownMu    sync.Mutex
	ownBuilt = map[string]string{}
)

// copyFile copies src to dst with mode, returning the SHA-256 of the bytes.
func copyFile(src, dst string, mode os.FileMode) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), in); err != nil {
		out.Close()
		return "", err
	}
	if err := out.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
