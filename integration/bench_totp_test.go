package integration

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/mailgent/mailgent/internal/harness"
)

// TOTP throughput through Vault's HTTP API, on the same Vault server, with
// the same HTTP client, seed and concurrency, of three targets:
//
//	plugin    GET mailgent/agents/bench/creds/site/totp (Mailgent: decrypts
//	          the seed, computes the code, stores an audit event before it
//	          answers)
//	empty     GET empty/code: an external plugin whose read returns a
//	          constant (internal/harness/emptyplugin) — what any external
//	          plugin pays per request, so plugin÷empty is Mailgent's own share
//	builtin   GET totp/code/bench: Vault's built-in totp engine (in-process)
//
// on three storages: "dev" (vault server -dev, in memory), "raft1" (one
// node on integrated storage, fsync on every commit, as production) and
// "raft3" (the 3-node Raft cluster; requests go to the active node, as a
// load balancer that health-checks /v1/sys/health sends them). See
// docs/benchmarks.md.
//
//	go test -run '^$' -bench BenchmarkTOTP -benchtime 1x ./integration/
//
// Each storage's sub-benchmark starts its Vault and sets the targets up
// (untimed); its "compare" sub-benchmark sends totpBenchRoundSize requests
// per target per round, in totpBenchRounds rounds whose order rotates
// (A B C | C B A | B C A | …, so no side always runs first or last),
// whatever b.N is. The amount of work is fixed so that `make bench` (1s
// benchtime) gives the same figures as the command above: the loop is
// b.Loop, and only its first iteration works. So ns/op is the wall time of
// the whole comparison and means little; the figures are the custom
// metrics:
//
//	plugin_rps, empty_rps, builtin_rps   requests/s of each, over its own rounds
//	ratio_empty, ratio_builtin           plugin_rps ÷ empty_rps, ÷ builtin_rps
//	plugin_p50_ms, plugin_p99_ms, …      latency percentiles of each target
//
// Every response is checked — status 200 and a non-empty data.code — and
// one failure fails the benchmark.

const (
	totpBenchConcurrency = 8
	// Rounds per target. Many short rounds rather than a few long ones:
	// this machine's speed drifts over seconds (a VM), and with 6 rounds of
	// 5,000 requests the ratio of back-to-back runs varied from 0.42 to 0.50;
	// with 30 of 1,000, within ±0.01.
	totpBenchRounds    = 24
	totpBenchRoundSize = 1000
	totpBenchWarmup    = 300 // untimed requests per target before measuring
	// A 35-byte seed in base32 (RFC 4648; 56 characters, no padding).
	totpBenchSeed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXPJBSWY3DP"
)

// totpTarget is one endpoint under test; each request reads one of paths
// (one path, or many agents' credentials picked at random).
type totpTarget struct {
	name  string
	addr  string
	paths []string
	// inOrder: request i reads paths[i mod len(paths)] (every path once
	// per pass, as a warm-up wants), not a random one.
	inOrder bool
}

func BenchmarkTOTP(b *testing.B) {
	for _, storage := range []string{"dev", "raft1", "raft3"} {
		b.Run(storage, func(b *testing.B) {
			v := startBenchVault(b, storage)
			targets := setUpTOTPTargets(b, v)
			client := benchHTTPClient(b, totpBenchConcurrency)
			requireSameCode(b, client, v.Token, targets[0], targets[2])
			b.Run("compare", func(b *testing.B) { compareTOTP(b, client, v.Token, storage, totpBenchConcurrency, targets) })
		})
	}
}

// startBenchVault starts Vault on storage ("dev", "raft1", "raft3") and
// returns the active node.
func startBenchVault(b *testing.B, storage string) *harness.Vault {
	switch storage {
	case "dev":
		return harness.StartVault(b)
	case "raft1":
		return harness.StartVaultCluster(b, 1).WaitLeader(b)
	case "raft3":
		return harness.StartVaultCluster(b, 3).WaitLeader(b)
	}
	b.Fatalf("unknown storage %q", storage)
	return nil
}

// setUpTOTPTargets mounts the three targets on v: plugin, empty, builtin.
func setUpTOTPTargets(b *testing.B, v *harness.Vault) []totpTarget {
	v.MountMailgent(b, "mailgent", map[string]interface{}{"domain": "agents.example.com"})
	v.RegisterPlugin(b, "emptyplugin", harness.OwnAt(b, "emptyplugin", "./internal/harness/emptyplugin"))
	if err := v.Client.Sys().Mount("empty", &api.MountInput{Type: "emptyplugin"}); err != nil {
		b.Fatalf("mount the empty plugin: %v", err)
	}
	// The built-in engine: a key with the same seed (SHA1, 6 digits, 30s
	// are the defaults of both).
	if err := v.Client.Sys().Mount("totp", &api.MountInput{Type: "totp"}); err != nil {
		b.Fatalf("mount totp: %v", err)
	}
	for _, w := range []struct {
		path string
		data map[string]interface{}
	}{
		{"mailgent/orgs/acme", map[string]interface{}{"description": "benchmark org"}},
		{"mailgent/agents/bench", map[string]interface{}{"org": "acme"}},
		{"mailgent/agents/bench/creds/site", map[string]interface{}{"totp_secret": totpBenchSeed}},
		{"totp/keys/bench", map[string]interface{}{"key": totpBenchSeed, "generate": false}},
	} {
		if _, err := v.Client.Logical().Write(w.path, w.data); err != nil {
			b.Fatalf("write %s: %v", w.path, err)
		}
	}
	return []totpTarget{
		{name: "plugin", addr: v.Addr, paths: []string{"mailgent/agents/bench/creds/site/totp"}},
		{name: "empty", addr: v.Addr, paths: []string{"empty/code"}},
		{name: "builtin", addr: v.Addr, paths: []string{"totp/code/bench"}},
	}
}

// benchHTTPClient is one client for every target, with an idle connection
// kept for every worker.
func benchHTTPClient(b *testing.B, workers int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = workers * 2
	tr.MaxIdleConnsPerHost = workers
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// requireSameCode checks that two targets give the same code for the same
// seed: proof that the comparison is like for like (retried once across a
// step boundary).
func requireSameCode(b *testing.B, client *http.Client, token string, x, y totpTarget) {
	for range 2 {
		xc, err := totpFetch(client, x.addr, token, x.paths[0])
		if err != nil {
			b.Fatal(err)
		}
		yc, err := totpFetch(client, y.addr, token, y.paths[0])
		if err != nil {
			b.Fatal(err)
		}
		if xc == yc {
			return
		}
	}
	b.Fatalf("%s and %s give different codes for the same seed", x.name, y.name)
}

// totpResult is one target's figures over all its rounds.
type totpResult struct {
	n             int
	rps, p50, p99 float64
}

// compareTOTP warms the targets up, runs the rotating rounds once and
// reports each target's figures and the plugin's ratios to the others.
func compareTOTP(b *testing.B, client *http.Client, token, label string, workers int, targets []totpTarget) {
	lat := map[string][]time.Duration{}
	busy := map[string]time.Duration{}
	ran := false
	for b.Loop() {
		if ran {
			continue // fixed work: see above
		}
		ran = true
		// Warm up all: connections, the plugin's caches, Vault's caches.
		for _, t := range targets {
			if _, err := totpRound(client, token, t, totpBenchWarmup, workers); err != nil {
				b.Fatalf("warm-up %s: %v", t.name, err)
			}
		}
		for r := range totpBenchRounds {
			for _, t := range rotated(targets, r) {
				start := time.Now()
				l, err := totpRound(client, token, t, totpBenchRoundSize, workers)
				busy[t.name] += time.Since(start)
				if err != nil {
					b.Fatalf("round %d, %s: %v", r, t.name, err)
				}
				lat[t.name] = append(lat[t.name], l...)
			}
		}
	}
	res := map[string]totpResult{}
	for _, t := range targets {
		l := slices.Sorted(slices.Values(lat[t.name]))
		res[t.name] = totpResult{n: len(l), rps: float64(len(l)) / busy[t.name].Seconds(), p50: ms(percentile(l, 0.50)), p99: ms(percentile(l, 0.99))}
		b.ReportMetric(res[t.name].rps, t.name+"_rps")
		b.ReportMetric(res[t.name].p50, t.name+"_p50_ms")
		b.ReportMetric(res[t.name].p99, t.name+"_p99_ms")
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "TOTP via Vault HTTP API (%s), %d workers, %d rounds × %d requests per target\n", label, workers, totpBenchRounds, totpBenchRoundSize)
	fmt.Fprintf(&sb, "  %-8s %8s %10s %9s %9s\n", "target", "requests", "req/s", "p50 ms", "p99 ms")
	for _, t := range targets {
		r := res[t.name]
		fmt.Fprintf(&sb, "  %-8s %8d %10.0f %9.3f %9.3f\n", t.name, r.n, r.rps, r.p50, r.p99)
	}
	for _, t := range targets[1:] {
		ratio := res[targets[0].name].rps / res[t.name].rps
		b.ReportMetric(ratio, "ratio_"+t.name)
		fmt.Fprintf(&sb, "  %s/%s: %.3f\n", targets[0].name, t.name, ratio)
	}
	b.Log(strings.TrimSuffix(sb.String(), "\n"))
}

// rotated is targets in round r's order: rotated by r, reversed every other
// round, so each target runs first, in the middle and last equally often.
func rotated(targets []totpTarget, r int) []totpTarget {
	out := make([]totpTarget, len(targets))
	for i := range targets {
		out[i] = targets[(i+r)%len(targets)]
	}
	if r%2 == 1 {
		slices.Reverse(out)
	}
	return out
}

// totpRound sends n requests to t from workers concurrent workers and
// returns every request's latency. The first failure stops the round.
func totpRound(client *http.Client, token string, t totpTarget, n, workers int) ([]time.Duration, error) {
	var (
		next    atomic.Int64
		failed  atomic.Bool
		errOnce sync.Once
		firstEr error
		wg      sync.WaitGroup
	)
	per := make([][]time.Duration, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := make([]time.Duration, 0, n/workers+1)
			for i := next.Add(1); !failed.Load() && i <= int64(n); i = next.Add(1) {
				path := t.paths[rand.IntN(len(t.paths))]
				if t.inOrder {
					path = t.paths[(i-1)%int64(len(t.paths))]
				}
				start := time.Now()
				_, err := totpFetch(client, t.addr, token, path)
				d := time.Since(start)
				if err != nil {
					failed.Store(true)
					errOnce.Do(func() { firstEr = err })
					break
				}
				l = append(l, d)
			}
			per[w] = l
		}()
	}
	wg.Wait()
	if firstEr != nil {
		return nil, firstEr
	}
	all := make([]time.Duration, 0, n)
	for _, l := range per {
		all = append(all, l...)
	}
	return all, nil
}

// totpFetch GETs one code and checks the response: 200 and a non-empty
// data.code.
func totpFetch(client *http.Client, addr, token, path string) (string, error) {
	status, raw, err := vaultCall(client, addr, token, http.MethodGet, path, nil)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("GET %s: %d: %s", path, status, raw)
	}
	data, err := vaultData(raw)
	if err != nil {
		return "", err
	}
	code, _ := data["code"].(string)
	if code == "" {
		return "", fmt.Errorf("GET %s: no code in %s", path, raw)
	}
	return code, nil
}
