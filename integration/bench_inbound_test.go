package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/smtp"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailgent/mailgent/internal/harness"
)

// Inbound mail: the relay (SMTP → parse → HPKE seal → JetStream → plugin
// consumer → the agent's inbox in Vault) against Mailpit (SMTP → SQLite),
// with the same load client, in the same run. See docs/benchmarks.md.
//
//	go test -run '^$' -bench BenchmarkInbound -benchtime 1x ./integration/
//
// Sub-benchmarks by storage, then by mail shape:
//
//	dev/corpus, dev/synthetic   Vault -dev (in memory), one nats-server
//	raft1/corpus                one Vault node on integrated storage (Raft,
//	                            fsync per commit), one nats-server
//	raft3/corpus                the production topology: 3 Vault nodes on
//	                            Raft, 3 nats-servers with nats_replicas=3
//
// Shapes: "corpus" sends the project's corpus of real-world verification
// mail (testdata/mail: HTML from templating systems, multipart, QP, base64)
// round-robin, each send made unique (its own Message-ID); "synthetic" is a
// 4 KiB plain-text verification mail, also unique per send.
//
// Three figures per sub-benchmark:
//
//   - accept rate: messages/s from the first MAIL FROM of a round to the
//     last 250 after DATA, 8 connections (each reused for the whole round:
//     MAIL, RCPT, DATA, then RSET, as an MTA's connection cache does; no
//     PIPELINING), every message required to get 250. The relay answers
//     250 only after JetStream acknowledged the message; Mailpit only
//     after its SQLite insert.
//   - end-to-end rate: messages/s from the first MAIL FROM of a round until
//     all of the round's messages are visible where a reader looks for them
//     — the agent's messages_total (GET mailgent/agents/bench) for ours,
//     Mailpit's message count (GET /api/v1/messages) for Mailpit. Counts
//     must be exact: a message lost or stored twice fails the benchmark.
//   - email→code latency (ours only, the synthetic mail): a messages/wait
//     call is waiting, one message is sent; from the 250 after DATA until
//     the wait call returned the message, with data.code checked.
//
// Method. Each storage's sub-benchmark starts its stack once (untimed).
// Each shape's sub-benchmark does the whole measurement exactly once,
// whatever b.N is: first inboundBenchCodeIters latency iterations (after
// inboundBenchCodeWarmup untimed ones), then an untimed warm-up of
// inboundBenchWarmup messages per target, then inboundBenchRounds
// alternating rounds per target (A B | B A | A B | B A, so neither side
// always goes first) of inboundBenchRoundSize messages each, then
// inboundBenchSplitRounds accept-only rounds per target with the plugin
// off the bus (the relay alone), and the timed drain of that backlog by the
// plugin. The amount of work is fixed, not b.N, because both targets must
// get the same number of messages, the end-to-end rate needs whole rounds
// that are waited for, and one run takes about a minute. The loop is
// b.Loop, which with the default 1s benchtime (make bench) stops after the
// first iteration; further iterations do nothing. So ns/op is the wall
// time and means little; the figures are the custom metrics:
//
//	relay_accept_rps, mailpit_accept_rps, accept_ratio   (relay ÷ Mailpit)
//	relay_e2e_rps, mailpit_e2e_rps, e2e_ratio            (relay ÷ Mailpit)
//	relay_alone_accept_rps, alone_ratio, plugin_drain_rps
//	code_p50_ms, code_p99_ms                             email→code latency
//
// The latency iterations run before the throughput rounds: messages/wait
// reads every message stored in the last 60 seconds (its look-back), so
// right after thousands of throughput messages it would measure that scan
// rather than a verification mail's way to the agent.
//
// Everything runs on the same machine: the load client, nats-server(s),
// Vault with the plugin, the relay and Mailpit share its cores. Mailpit
// runs for the whole benchmark and our stack too, idle in the other's
// rounds.

const (
	inboundBenchConns       = 8
	inboundBenchRounds      = 4   // rounds per target
	inboundBenchSplitRounds = 2   // accept-only rounds per target with the plugin off the bus
	inboundBenchRoundSize   = 500 // messages per round (Mailpit keeps 500 by default: it is emptied before each round)
	inboundBenchWarmup      = 200 // untimed messages per target before the rounds
	inboundBenchCodeIters   = 200
	inboundBenchCodeWarmup  = 10
	inboundBenchMsgSize     = 4096
	inboundBenchPoll        = 5 * time.Millisecond
	inboundBenchE2ETimeout  = 3 * time.Minute
	inboundBenchAgent       = "bench"
	inboundBenchFrom        = "no-reply@service.example.com"
)

// inboundTarget is one SMTP server under test and where its mail shows.
type inboundTarget struct {
	name  string // "relay" or "mailpit"
	smtp  string // host:port
	count func() (int, error)
	// reset runs (untimed) before each round and returns the count the
	// round starts from.
	reset func() (int, error)
}

// inboundRoundResult is one round of one target.
type inboundRoundResult struct {
	target      string
	n           int
	accept, e2e time.Duration
	perMessage  []time.Duration // MAIL FROM → 250 after DATA
}

// inboundShape makes the i-th message of a round tagged tag.
type inboundShape struct {
	name string
	make func(to, tag string, i int) []byte
	// rcpt, when set, is the i-th message's recipient (mail spread over
	// many agents); otherwise every message goes to the round's to.
	rcpt func(i int) string
}

// inboundEnv is one stack under test, set up for the benchmark agent.
type inboundEnv struct {
	label                       string
	vault                       *inboundVault
	mailpit                     *inboundMailpit
	relay                       string // SMTP address
	relayProc                   *harness.Relay
	natsURL                     string // the plugin's nats_url (to put it back on the bus)
	natsPass                    string
	to                          string
	syntheticShape, corpusShape inboundShape
}

func BenchmarkInbound(b *testing.B) {
	corpus := loadBenchCorpus(b)
	for _, run := range []struct {
		storage string
		shapes  []string
	}{{"dev", []string{"corpus", "synthetic"}}, {"raft1", []string{"corpus"}}, {"raft3", []string{"corpus"}}} {
		b.Run(run.storage, func(b *testing.B) {
			env := startInboundBench(b, run.storage, corpus)
			for _, shape := range run.shapes {
				sh := env.corpusShape
				if shape == "synthetic" {
					sh = env.syntheticShape
				}
				b.Run(shape, func(b *testing.B) { compareInbound(b, env, sh) })
			}
		})
	}
}

// startInboundBench starts the stack on storage and sets it up: no inbox
// trimming, an org and the agent, the sender's DNS, the relay knowing the
// agent.
func startInboundBench(b *testing.B, storage string, corpus [][]byte, extraRelayArgs ...string) *inboundEnv {
	// One sender sends thousands of mails a minute: the relay's per-sender
	// and per-IP rate limits (flood protection) would measure themselves,
	// so they are off, as an operator expecting such a sender would set
	// them. The sender publishes SPF and DMARC, so its mail is verified and
	// the relay does the DNS work it does for real mail.
	relayArgs := append([]string{"-rate-per-sender-domain", "0", "-rate-per-ip", "0"}, extraRelayArgs...)
	env := &inboundEnv{label: storage}
	var dns *harness.DNS
	var vaultAddr, token, mailpitURL string
	if storage == "raft3" {
		s := harness.StartClusterStack(b, 1, relayArgs...)
		leader := s.Vault.WaitLeader(b)
		dns, vaultAddr, token, mailpitURL = s.DNS, leader.Addr, leader.Token, s.Mailpit.URL
		env.relay, env.natsPass, env.mailpit = s.Relays[0].Addr, s.NATS.Password, &inboundMailpit{url: s.Mailpit.URL}
		env.relayProc = s.Relays[0]
		env.natsURL = s.NATS.MountConfig()["nats_url"].(string)
		env.mailpit.smtp = s.Mailpit.SMTPAddr
	} else {
		s := harness.StartStack(b, harness.StackOptions{RelayArgs: relayArgs, Raft: storage == "raft1"})
		dns, vaultAddr, token, mailpitURL = s.DNS, s.Vault.Addr, s.Vault.Token, s.Mailpit.URL
		env.relay, env.natsPass, env.natsURL = s.Relay.Addr, s.NATS.Password, s.NATS.URL
		env.relayProc = s.Relay
		env.mailpit = &inboundMailpit{url: s.Mailpit.URL, smtp: s.Mailpit.SMTPAddr}
	}
	dns.Sender(b, "service.example.com", harness.SenderOptions{})
	client := benchHTTPClient(b, 16)
	client.Timeout = 60 * time.Second
	env.vault = &inboundVault{client: client, addr: vaultAddr, token: token}
	env.mailpit.client, env.mailpit.url = client, mailpitURL
	env.to = inboundBenchAgent + "@" + harnessDomain(storage)
	env.syntheticShape = inboundShape{name: "synthetic", make: syntheticMail}
	env.corpusShape = inboundShape{name: "corpus", make: func(_, tag string, i int) []byte {
		return withMessageID(corpus[i%len(corpus)], fmt.Sprintf("<%s-%06d@bench.example>", tag, i))
	}}
	setUpInboundAgent(b, env)
	return env
}

// syntheticMail is the synthetic shape's i-th message of a round tagged tag.
func syntheticMail(to, tag string, i int) []byte {
	return inboundMessage(to, "Bench mail "+tag+" "+inboundLetters(uint64(i), 4), fmt.Sprintf("%s-%06d", tag, i), inboundCode())
}

// harnessDomain is the mail domain the harness gives the stack on storage.
func harnessDomain(storage string) string {
	if storage == "raft3" {
		return "agents.cluster.test"
	}
	return "agents.mailgent.test"
}

// setUpInboundAgent turns inbox trimming off, creates the agent and waits
// until the relay knows it.
func setUpInboundAgent(b *testing.B, env *inboundEnv) {
	// No trimming: the default inbox cap (1000) would make counts useless.
	// Writing config reconnects the plugin's bus: wait for it.
	if _, _, err := env.vault.do("POST", "mailgent/config", map[string]interface{}{"max_inbox_messages": 1_000_000}); err != nil {
		b.Fatal(err)
	}
	if err := inboundEventually(30*time.Second, func() error {
		data, _, err := env.vault.do("GET", "mailgent/config", nil)
		if err != nil {
			return err
		}
		if data["bus_status"] != "connected" || data["max_inbox_messages"] != float64(1_000_000) {
			return fmt.Errorf("config: %v", data)
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	for _, w := range []struct {
		path string
		body map[string]interface{}
	}{
		{"mailgent/orgs/acme", map[string]interface{}{}},
		{"mailgent/agents/" + inboundBenchAgent, map[string]interface{}{"org": "acme"}},
	} {
		if _, _, err := env.vault.do("POST", w.path, w.body); err != nil {
			b.Fatal(err)
		}
	}
	// The relay learns the agent from the directory within moments.
	if err := inboundEventually(30*time.Second, func() error {
		c, err := smtp.Dial(env.relay)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.Mail(inboundBenchFrom); err != nil {
			return err
		}
		return c.Rcpt(env.to)
	}); err != nil {
		b.Fatalf("RCPT TO:<%s> never accepted: %v", env.to, err)
	}
}

// loadBenchCorpus reads testdata/mail/*.eml with CRLF line ends.
func loadBenchCorpus(b *testing.B) [][]byte {
	paths, err := filepath.Glob(filepath.Join(harness.RepoRoot(b), "testdata", "mail", "*.eml"))
	if err != nil || len(paths) == 0 {
		b.Fatalf("no corpus in testdata/mail: %v", err)
	}
	var out [][]byte
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		raw = bytes.ReplaceAll(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
		out = append(out, raw)
	}
	return out
}

// withMessageID is raw with its Message-ID header replaced by id (or id
// added first when it has none), so every send is a new message.
func withMessageID(raw []byte, id string) []byte {
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(raw)
	}
	out := make([]byte, 0, len(raw)+64)
	out = append(out, "Message-ID: "+id+"\r\n"...)
	for _, line := range bytes.SplitAfter(raw[:end], []byte("\r\n")) {
		if len(line) > 11 && bytes.EqualFold(line[:11], []byte("message-id:")) {
			continue // a folded continuation of it would follow: none in the corpus
		}
		out = append(out, line...)
	}
	return append(out, raw[end:]...)
}

// inboundRun is what one shape's measurement collected.
type inboundRun struct {
	rounds  []inboundRoundResult
	split   []inboundRoundResult // accept-only rounds, the plugin off the bus
	drain   time.Duration        // the plugin storing the split rounds' backlog
	backlog int
	codes   []time.Duration // in the order measured
	// stages is the relay's mean time per message in each step of its
	// rounds alone (from its /metrics): where its latency goes.
	stages string
}

// compareInbound measures shape on env once (see "Method") and reports.
func compareInbound(b *testing.B, env *inboundEnv, shape inboundShape) {
	var run *inboundRun
	for b.Loop() {
		if run != nil {
			continue // one measurement per run
		}
		var err error
		if run, err = measureInbound(env, shape); err != nil {
			b.Fatal(err)
		}
	}
	if run != nil {
		reportInbound(b, env, shape, run)
	}
}

// measureInbound runs the latency iterations, the alternating rounds and
// the split rounds, then checks that the inbox holds exactly what got 250.
func measureInbound(env *inboundEnv, shape inboundShape) (*inboundRun, error) {
	run := &inboundRun{}
	runID := inboundLetters(uint64(time.Now().UnixNano()), 8)
	start, err := env.vault.messagesTotal()
	if err != nil {
		return nil, err
	}
	// Email→code latency, on a quiet inbox (see above).
	if _, err := inboundCodeLatency(env.vault, env.relay, env.to, runID+"w", inboundBenchCodeWarmup); err != nil {
		return nil, fmt.Errorf("latency warm-up: %w", err)
	}
	if run.codes, err = inboundCodeLatency(env.vault, env.relay, env.to, runID+"c", inboundBenchCodeIters); err != nil {
		return nil, fmt.Errorf("latency: %w", err)
	}
	relay := inboundTarget{name: "relay", smtp: env.relay, count: env.vault.messagesTotal, reset: env.vault.messagesTotal}
	mp := inboundTarget{name: "mailpit", smtp: env.mailpit.smtp, count: env.mailpit.total, reset: env.mailpit.reset}
	// Warm-up of both: connections, caches, JetStream's and SQLite's files.
	for _, t := range []inboundTarget{relay, mp} {
		if _, err := inboundRound(t, shape, env.to, runID+"x"+t.name, inboundBenchWarmup); err != nil {
			return nil, fmt.Errorf("warm-up %s: %w", t.name, err)
		}
	}
	if run.rounds, err = alternateRounds(relay, mp, shape, env.to, runID, inboundBenchRounds); err != nil {
		return nil, err
	}
	if err := measureSplit(env, shape, mp, runID, run); err != nil {
		return nil, err
	}
	// Nothing lost, nothing stored twice: the inbox holds exactly what got
	// 250, a while after the last round.
	time.Sleep(time.Second)
	total, err := env.vault.messagesTotal()
	if err != nil {
		return nil, err
	}
	sent := inboundBenchCodeWarmup + inboundBenchCodeIters + inboundBenchWarmup + run.backlog
	for _, r := range run.rounds {
		if r.target == "relay" {
			sent += r.n
		}
	}
	if total-start != sent {
		return nil, fmt.Errorf("agent inbox gained %d messages, %d were accepted", total-start, sent)
	}
	return run, nil
}

// alternateRounds runs rounds rounds per target, in alternating order, with
// a pause for the other side's leftovers (audit batches, WAL checkpoints,
// logs) to settle after each.
func alternateRounds(x, y inboundTarget, shape inboundShape, to, runID string, rounds int) ([]inboundRoundResult, error) {
	var out []inboundRoundResult
	for r := range rounds {
		order := []inboundTarget{x, y}
		if r%2 == 1 {
			order = []inboundTarget{y, x}
		}
		for _, t := range order {
			tag := fmt.Sprintf("%s%s%s", runID, inboundLetters(uint64(r), 2), strings.ReplaceAll(t.name, "-", ""))
			res, err := inboundRound(t, shape, to, tag, inboundBenchRoundSize)
			if err != nil {
				return nil, fmt.Errorf("round %d, %s: %w", r, t.name, err)
			}
			out = append(out, res)
			time.Sleep(300 * time.Millisecond)
		}
	}
	return out, nil
}

// measureSplit measures each half on its own: the plugin off the bus (its
// nats_url pointed at a closed port), Mailpit and the relay alternate
// accept-only rounds; then the plugin is put back and drains the relay's
// rounds from JetStream, timed.
func measureSplit(env *inboundEnv, shape inboundShape, mp inboundTarget, runID string, run *inboundRun) error {
	if err := inboundPluginBus(env.vault, "nats://127.0.0.1:1", env.natsPass, false); err != nil {
		return err
	}
	before, err := env.vault.messagesTotal()
	if err != nil {
		return err
	}
	alone := inboundTarget{name: "relay-alone", smtp: env.relay, reset: env.vault.messagesTotal}
	mpAccept := mp
	mpAccept.count = nil // accept only, as the relay alone
	m0, err := relayStageTimes(env.relayProc.MetricsURL)
	if err != nil {
		return err
	}
	if run.split, err = alternateRounds(alone, mpAccept, shape, env.to, runID+"s", inboundBenchSplitRounds); err != nil {
		return err
	}
	m1, err := relayStageTimes(env.relayProc.MetricsURL)
	if err != nil {
		return err
	}
	run.stages = m1.meanSince(m0)
	for _, r := range run.split {
		if r.target == alone.name {
			run.backlog += r.n
		}
	}
	drainStart := time.Now()
	if err := inboundPluginBus(env.vault, env.natsURL, env.natsPass, true); err != nil {
		return err
	}
	if err := inboundEventually(inboundBenchE2ETimeout, func() error {
		got, err := env.vault.messagesTotal()
		if err != nil {
			return err
		}
		if got != before+run.backlog {
			return fmt.Errorf("%d of %d drained", got-before, run.backlog)
		}
		return nil
	}); err != nil {
		return err
	}
	run.drain = time.Since(drainStart)
	return nil
}

// stageTimes are the sums and counts of the relay's per-message step
// histograms.
type stageTimes map[string]float64

var stageSamples = []struct{ name, sample string }{
	{"parse", `mailgent_relay_data_stage_seconds_%s{stage="parse"}`},
	{"sender auth", `mailgent_relay_data_stage_seconds_%s{stage="sender_auth"}`},
	{"publish", `mailgent_relay_publish_seconds_%s`},
}

// relayStageTimes reads the relay's step histograms from its /metrics.
func relayStageTimes(url string) (stageTimes, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	st := stageTimes{}
	for _, line := range strings.Split(string(raw), "\n") {
		for _, s := range stageSamples {
			for _, part := range []string{"sum", "count"} {
				if v, ok := strings.CutPrefix(line, fmt.Sprintf(s.sample, part)+" "); ok {
					var f float64
					if _, err := fmt.Sscan(v, &f); err != nil {
						return nil, fmt.Errorf("%s: %w", line, err)
					}
					st[s.name+" "+part] = f
				}
			}
		}
	}
	return st, nil
}

// meanSince is each step's mean time per message since before, in ms.
func (st stageTimes) meanSince(before stageTimes) string {
	var parts []string
	for _, s := range stageSamples {
		n := st[s.name+" count"] - before[s.name+" count"]
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s %.2f ms", s.name, 1000*(st[s.name+" sum"]-before[s.name+" sum"])/n))
		}
	}
	return strings.Join(parts, ", ")
}

// inboundSum is one target's rounds added up.
type inboundSum struct {
	n                 int
	accept, e2e       time.Duration
	perMsg            []time.Duration
	acceptRPS, e2eRPS float64
	acceptBy, e2eBy   []string // per round, req/s
}

func sumRounds(rounds []inboundRoundResult, target string) *inboundSum {
	a := &inboundSum{}
	for _, r := range rounds {
		if r.target != target {
			continue
		}
		a.n += r.n
		a.accept += r.accept
		a.e2e += r.e2e
		a.perMsg = append(a.perMsg, r.perMessage...)
		a.acceptBy = append(a.acceptBy, fmt.Sprintf("%.0f", float64(r.n)/r.accept.Seconds()))
		if r.e2e > 0 {
			a.e2eBy = append(a.e2eBy, fmt.Sprintf("%.0f", float64(r.n)/r.e2e.Seconds()))
		}
	}
	a.acceptRPS = float64(a.n) / a.accept.Seconds()
	a.e2eRPS = float64(a.n) / a.e2e.Seconds()
	slices.Sort(a.perMsg)
	return a
}

// reportInbound reports the metrics and logs the table (at most 10 lines:
// go test cuts longer benchmark logs without -v).
func reportInbound(b *testing.B, env *inboundEnv, shape inboundShape, run *inboundRun) {
	relay, mailpit := sumRounds(run.rounds, "relay"), sumRounds(run.rounds, "mailpit")
	alone, mpSplit := sumRounds(run.split, "relay-alone"), sumRounds(run.split, "mailpit")
	codes := slices.Sorted(slices.Values(run.codes))
	acceptRatio, e2eRatio := relay.acceptRPS/mailpit.acceptRPS, relay.e2eRPS/mailpit.e2eRPS
	aloneRatio := alone.acceptRPS / mpSplit.acceptRPS
	p50, p99 := percentile(codes, 0.50), percentile(codes, 0.99)
	drainRPS := float64(run.backlog) / run.drain.Seconds()
	for _, m := range []struct {
		v    float64
		unit string
	}{
		{relay.acceptRPS, "relay_accept_rps"}, {mailpit.acceptRPS, "mailpit_accept_rps"}, {acceptRatio, "accept_ratio"},
		{relay.e2eRPS, "relay_e2e_rps"}, {mailpit.e2eRPS, "mailpit_e2e_rps"}, {e2eRatio, "e2e_ratio"},
		{alone.acceptRPS, "relay_alone_accept_rps"}, {mpSplit.acceptRPS, "mailpit_split_accept_rps"}, {aloneRatio, "alone_ratio"},
		{drainRPS, "plugin_drain_rps"}, {ms(p50), "code_p50_ms"}, {ms(p99), "code_p99_ms"},
	} {
		b.ReportMetric(m.v, m.unit)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "inbound mail (%s storage, %s mail): %d connections, %d alternating rounds × %d messages per target (after %d warm-up)\n",
		env.label, shape.name, inboundBenchConns, inboundBenchRounds, inboundBenchRoundSize, inboundBenchWarmup)
	fmt.Fprintf(&sb, "  %-8s %8s %9s %8s %13s %13s  %-22s %s\n", "target", "messages", "accept/s", "e2e/s", "MAIL→250 p50", "MAIL→250 p99", "accept/s by round", "e2e/s by round")
	for _, x := range []struct {
		name string
		a    *inboundSum
	}{{"relay", relay}, {"mailpit", mailpit}} {
		fmt.Fprintf(&sb, "  %-8s %8d %9.0f %8.0f %10.2f ms %10.2f ms  %-22s %s\n", x.name, x.a.n, x.a.acceptRPS, x.a.e2eRPS,
			ms(percentile(x.a.perMsg, 0.50)), ms(percentile(x.a.perMsg, 0.99)), strings.Join(x.a.acceptBy, " "), strings.Join(x.a.e2eBy, " "))
	}
	fmt.Fprintf(&sb, "  relay/mailpit: accept %.3f (target ≥ 1.0: %s), end to end %.3f (target ≥ 1.0: %s)\n",
		acceptRatio, inboundMet(acceptRatio >= 1.0), e2eRatio, inboundMet(e2eRatio >= 1.0))
	fmt.Fprintf(&sb, "  relay alone (plugin off the bus, %d rounds each): %.0f/s vs Mailpit %.0f/s: %.3f (target ≥ 2.0: %s); plugin drained the %d in %.0f ms: %.0f/s\n",
		inboundBenchSplitRounds, alone.acceptRPS, mpSplit.acceptRPS, aloneRatio, inboundMet(aloneRatio >= 2.0), run.backlog, ms(run.drain), drainRPS)
	fmt.Fprintf(&sb, "  relay alone, MAIL→250 p50 %.2f ms (Mailpit %.2f ms); the relay's mean per message: %s\n",
		ms(percentile(alone.perMsg, 0.50)), ms(percentile(mpSplit.perMsg, 0.50)), run.stages)
	fmt.Fprintf(&sb, "  email→code (250 after DATA → messages/wait answered), %d sequential: p50 %.2f ms, p99 %.2f ms (target ≤ 50: %s), max %.2f ms\n",
		len(codes), ms(p50), ms(p99), inboundMet(ms(p99) <= 50), ms(codes[len(codes)-1]))
	fmt.Fprintf(&sb, "  nothing lost, nothing stored twice: the agent's inbox gained exactly what got 250")
	b.Log(sb.String())
}

// inboundRound sends n unique messages to t over inboundBenchConns reused
// connections, then waits until all n are visible. The first failure stops
// the round and is returned.
func inboundRound(t inboundTarget, shape inboundShape, to, tag string, n int) (inboundRoundResult, error) {
	res := inboundRoundResult{target: t.name, n: n}
	before, err := t.reset()
	if err != nil {
		return res, fmt.Errorf("before the round: %w", err)
	}
	msgs := make([][]byte, n)
	for i := range msgs {
		msgs[i] = shape.make(to, tag, i)
	}
	conns := make([]*smtp.Client, inboundBenchConns)
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Quit()
				c.Close()
			}
		}
	}()
	for i := range conns {
		if conns[i], err = inboundDial(t.smtp); err != nil {
			return res, err
		}
	}

	var (
		next    atomic.Int64
		failed  atomic.Bool
		errOnce sync.Once
		firstEr error
		wg      sync.WaitGroup
	)
	last := make([]time.Time, len(conns))
	per := make([][]time.Duration, len(conns))
	start := time.Now()
	for w, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				rcpt := to
				if shape.rcpt != nil {
					rcpt = shape.rcpt(int(i))
				}
				t0 := time.Now()
				t1, err := inboundSend(c, rcpt, msgs[i])
				if err != nil {
					failed.Store(true)
					errOnce.Do(func() { firstEr = fmt.Errorf("message %d: %w", i, err) })
					return
				}
				last[w] = t1
				per[w] = append(per[w], t1.Sub(t0))
			}
		}()
	}
	wg.Wait()
	if firstEr != nil {
		return res, firstEr
	}
	end := start
	for w := range conns {
		if last[w].After(end) {
			end = last[w]
		}
		res.perMessage = append(res.perMessage, per[w]...)
	}
	res.accept = end.Sub(start)
	if t.count == nil {
		return res, nil // accept only (the relay with the plugin off the bus)
	}

	// End to end: until the target shows all n, exactly.
	want := before + n
	deadline := time.Now().Add(inboundBenchE2ETimeout)
	for {
		got, err := t.count()
		if err != nil {
			return res, err
		}
		if got > want {
			return res, fmt.Errorf("%d messages visible, only %d sent (a duplicate?)", got-before, n)
		}
		if got == want {
			res.e2e = time.Since(start)
			return res, nil
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("only %d of %d messages visible %s after the round started: lost", got-before, n, inboundBenchE2ETimeout)
		}
		time.Sleep(inboundBenchPoll)
	}
}

// inboundCodeLatency sends n verification mails one at a time, each while a
// messages/wait call for its unique subject waits, and returns the time from
// the 250 after DATA to the wait call's answer.
func inboundCodeLatency(v *inboundVault, smtpAddr, to, tag string, n int) ([]time.Duration, error) {
	c, err := inboundDial(smtpAddr)
	if err != nil {
		return nil, err
	}
	defer func() {
		_ = c.Quit()
		c.Close()
	}()
	type answer struct {
		at   time.Time
		data map[string]interface{}
		code int
		err  error
	}
	lat := make([]time.Duration, 0, n)
	for i := range n {
		subject := "Your sign-in code " + tag + " " + inboundLetters(uint64(i), 4)
		code := inboundCode()
		raw := inboundMessage(to, subject, fmt.Sprintf("%s-%06d", tag, i), code)
		done := make(chan answer, 1)
		go func() {
			data, status, err := v.do("GET", "mailgent/agents/"+inboundBenchAgent+"/messages/wait?timeout=10&subject="+url.QueryEscape(subject), nil)
			done <- answer{time.Now(), data, status, err}
		}()
		// Let the call reach the plugin and wait (were it late, the
		// look-back would still find the message, but the figure would be
		// the call's, not the mail's).
		time.Sleep(20 * time.Millisecond)
		t0, err := inboundSend(c, to, raw)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		a := <-done
		if a.err != nil {
			return nil, fmt.Errorf("message %d: wait: %w", i, a.err)
		}
		if a.data["code"] != code || a.data["subject"] != subject {
			return nil, fmt.Errorf("message %d: wait returned code %v, subject %v; sent %s, %q", i, a.data["code"], a.data["subject"], code, subject)
		}
		lat = append(lat, a.at.Sub(t0))
	}
	return lat, nil
}

// inboundDial opens an SMTP session (greeting and EHLO).
func inboundDial(addr string) (*smtp.Client, error) {
	c, err := smtp.Dial(addr)
	if err != nil {
		return nil, err
	}
	if err := c.Hello("loadgen.example.org"); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// inboundSend is one transaction on a reused session: MAIL, RCPT, DATA,
// then RSET. It returns the time the 250 after DATA arrived; anything but
// 250 anywhere is an error.
func inboundSend(c *smtp.Client, to string, raw []byte) (time.Time, error) {
	if err := c.Mail(inboundBenchFrom); err != nil {
		return time.Time{}, fmt.Errorf("MAIL: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return time.Time{}, fmt.Errorf("RCPT: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return time.Time{}, fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(raw); err != nil {
		return time.Time{}, fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return time.Time{}, fmt.Errorf("end of DATA: %w", err)
	}
	at := time.Now()
	if err := c.Reset(); err != nil {
		return time.Time{}, fmt.Errorf("RSET: %w", err)
	}
	return at, nil
}

// inboundFiller is plain text without digits, so the only code candidate
// of a message is the one it was given.
var inboundFiller = []string{
	"If you did not ask for this, you can ignore this message; nobody can",
	"sign in without the code, and it stops working when it expires. We",
	"will never ask you for it by phone or by mail, and our support team",
	"does not need it to help you. Keep it to yourself and enter it only",
	"on our own site, in the window where you asked for it a moment ago.",
}

// inboundMessage is a verification mail of exactly inboundBenchMsgSize bytes.
func inboundMessage(to, subject, id, code string) []byte {
	var m bytes.Buffer
	m.Grow(inboundBenchMsgSize)
	fmt.Fprintf(&m, "From: Example Service <%s>\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@service.example.com>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+
		"Hi,\r\n\r\nYour verification code is %s. It expires in ten minutes.\r\n\r\n",
		inboundBenchFrom, to, subject, time.Now().UTC().Format(time.RFC1123Z), id, code)
	const outro = "\r\nThe Example team\r\n"
	room := inboundBenchMsgSize - len(outro)
	for i := 0; ; i++ {
		line := inboundFiller[i%len(inboundFiller)] + "\r\n"
		if m.Len()+len(line) > room {
			if rest := room - m.Len(); rest >= 3 {
				m.WriteString(strings.Repeat("-", rest-2) + "\r\n")
			}
			break
		}
		m.WriteString(line)
	}
	m.WriteString(outro)
	return m.Bytes()
}

// inboundCode is a random 6-digit code without a leading zero.
func inboundCode() string { return fmt.Sprintf("%06d", 100000+rand.IntN(900000)) }

// inboundLetters writes v in base 26 with letters, width wide: unique tags
// for subjects that hold no digits (digits there would be code candidates).
func inboundLetters(v uint64, width int) string {
	b := make([]byte, width)
	for i := width - 1; i >= 0; i-- {
		b[i] = byte('a' + v%26)
		v /= 26
	}
	return string(b)
}

// inboundPluginBus points the plugin at natsURL (a new URL needs the
// password again) and waits until its bus status is connected (want) or not.
func inboundPluginBus(v *inboundVault, natsURL, password string, want bool) error {
	if _, _, err := v.do("POST", "mailgent/config", map[string]interface{}{"nats_url": natsURL, "nats_password": password}); err != nil {
		return err
	}
	return inboundEventually(30*time.Second, func() error {
		data, _, err := v.do("GET", "mailgent/config", nil)
		if err != nil {
			return err
		}
		if (data["bus_status"] == "connected") != want || data["nats_url"] != natsURL {
			return fmt.Errorf("bus: %v", data["bus_status"])
		}
		return nil
	})
}

// inboundVault calls Vault's HTTP API with the root token.
type inboundVault struct {
	client *http.Client
	addr   string
	token  string
}

// do sends a request and returns the response's data; any status but 2xx
// is an error.
func (v *inboundVault) do(method, path string, body interface{}) (map[string]interface{}, int, error) {
	status, raw, err := vaultCall(v.client, v.addr, v.token, method, path, body)
	if err != nil {
		return nil, status, err
	}
	if status < 200 || status > 299 {
		return nil, status, fmt.Errorf("%s %s: %d: %s", method, path, status, raw)
	}
	data, err := vaultData(raw)
	return data, status, err
}

func (v *inboundVault) messagesTotal() (int, error) {
	data, _, err := v.do("GET", "mailgent/agents/"+inboundBenchAgent, nil)
	if err != nil {
		return 0, err
	}
	n, ok := data["messages_total"].(float64)
	if !ok {
		return 0, fmt.Errorf("no messages_total in %v", data)
	}
	return int(n), nil
}

// inboundMailpit calls Mailpit's API (v1.33.1: GET /api/v1/messages
// answers "total", the mailbox's message count; DELETE empties it).
type inboundMailpit struct {
	client *http.Client
	url    string
	smtp   string
}

// reset empties the mailbox (Mailpit keeps 500 messages by default) and
// returns the count it starts from.
func (m *inboundMailpit) reset() (int, error) {
	if err := m.deleteAll(); err != nil {
		return 0, err
	}
	return m.total()
}

func (m *inboundMailpit) total() (int, error) {
	resp, err := m.client.Get(m.url + "/api/v1/messages?limit=1")
	if err != nil {
		return 0, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("mailpit GET /api/v1/messages: %s: %s", resp.Status, raw)
	}
	var out struct {
		Total *int `json:"total"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.Total == nil {
		return 0, fmt.Errorf("mailpit GET /api/v1/messages: no total in %.200s (%v)", raw, err)
	}
	return *out.Total, nil
}

func (m *inboundMailpit) deleteAll() error {
	req, err := http.NewRequest(http.MethodDelete, m.url+"/api/v1/messages", nil)
	if err != nil {
		return err
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return err
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("mailpit DELETE /api/v1/messages: %s: %s", resp.Status, raw)
	}
	return nil
}

func inboundMet(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// inboundEventually retries f every 20 ms until it succeeds or timeout.
func inboundEventually(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
