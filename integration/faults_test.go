package integration

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/harness"
)

// mailLoad sends a steady stream of verified mail to one agent through a
// set of relays, as an MTA with several MX hosts does: a failed attempt is
// retried with the same bytes (so the same message ID) on the next relay
// until one answers 250. Every accepted mail must end up stored once.
type mailLoad struct {
	relays []string
	sender *harness.Sender
	to     string
	every  time.Duration

	mu       sync.Mutex
	accepted map[string]time.Time // subjects that got 250, and when
	retries  int
	next     atomic.Int64
}

func (l *mailLoad) run(ctx context.Context, wg *sync.WaitGroup) {
	defer wg.Done()
	t := time.NewTicker(l.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			wg.Add(1)
			go func() { defer wg.Done(); l.send(ctx, fmt.Sprintf("load-%06d", l.next.Add(1)), "") }()
		}
	}
}

// send delivers one mail, retrying on other relays; it records the subject
// once a relay said 250.
func (l *mailLoad) send(ctx context.Context, subject, code string) bool {
	if code == "" {
		code = "424242"
	}
	// The subject is a signed header: set it before signing.
	raw := l.sender.Sign([]byte(replaceSubject(string(trustMail("SVC <noreply@svc.example>", l.to, code,
		"https://svc.example/verify?token=z9y8x7w6v5u4-"+subject)), subject)))
	for try := 0; try < 300; try++ {
		err := harness.SendMail(l.relays[try%len(l.relays)], net.ParseIP("127.0.0.1"), "mx.svc.example", "noreply@svc.example", []string{l.to}, raw)
		if err == nil {
			l.mu.Lock()
			l.accepted[subject] = time.Now()
			l.retries += try
			l.mu.Unlock()
			return true
		}
		select {
		case <-ctx.Done():
			if try > 0 {
				// Keep trying a moment after the load stops: a sender does.
				time.Sleep(200 * time.Millisecond)
				continue
			}
			return false
		case <-time.After(200 * time.Millisecond):
		}
	}
	return false
}

func replaceSubject(raw, subject string) string {
	return strings.Replace(raw, "Subject: Your sign-in code", "Subject: "+subject, 1)
}

// storedMail lists the agent's inbox: subject → stored times.
func storedMail(t *testing.T, c *api.Client, agent string) map[string][]time.Time {
	t.Helper()
	out := map[string][]time.Time{}
	after := ""
	for {
		q := url.Values{"limit": {"500"}}
		if after != "" {
			q.Set("after", after)
		}
		r, err := c.Logical().ReadWithData("mailgent/agents/"+agent+"/messages", map[string][]string(q))
		require.NoError(t, err)
		for _, m := range r.Data["messages"].([]interface{}) {
			mm := m.(map[string]interface{})
			at, _ := time.Parse(time.RFC3339Nano, mm["stored_at"].(string))
			out[mm["subject"].(string)] = append(out[mm["subject"].(string)], at)
		}
		after, _ = r.Data["next_cursor"].(string)
		if after == "" {
			return out
		}
	}
}

// watchers are the callers an agent keeps running through the faults: a
// TOTP reader and a messages/wait caller, each counting what failed.
type watchers struct {
	totpOK, totpErr   atomic.Int64
	waitOK, waitMiss  atomic.Int64
	lastTOTPErr       atomic.Value
	probeSent, probes atomic.Int64
}

func (w *watchers) run(ctx context.Context, wg *sync.WaitGroup, s *harness.ClusterStack, load *mailLoad) {
	nodes := s.Vault.Nodes
	wg.Add(2)
	go func() { // the TOTP reader, through every node in turn
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			c, _ := nodes[i%len(nodes)].Client.Clone()
			c.SetToken(s.Vault.Token)
			c.SetClientTimeout(5 * time.Second)
			if _, err := c.Logical().Read("mailgent/agents/bot/creds/site/totp"); err != nil {
				w.totpErr.Add(1)
				w.lastTOTPErr.Store(err.Error())
			} else {
				w.totpOK.Add(1)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}()
	go func() { // the agent that asks for a code, then has it sent
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			subject := fmt.Sprintf("probe-%04d", i)
			c, _ := nodes[i%len(nodes)].Client.Clone()
			c.SetToken(s.Vault.Token)
			c.SetClientTimeout(40 * time.Second)
			done := make(chan error, 1)
			go func() {
				_, err := c.Logical().ReadWithData("mailgent/agents/bot/messages/wait",
					map[string][]string{"from": {"svc.example"}, "subject": {subject}, "timeout": {"30"}})
				done <- err
			}()
			time.Sleep(200 * time.Millisecond)
			if load.send(ctx, subject, fmt.Sprintf("%06d", 100000+i)) {
				w.probeSent.Add(1)
			}
			if err := <-done; err != nil {
				w.waitMiss.Add(1)
			} else {
				w.waitOK.Add(1)
			}
		}
	}()
}

// phase is one fault and how long the store may pause because of it.
type phase struct {
	name   string
	bound  time.Duration
	inject func(t *testing.T)
}

// The production topology under faults, on loopback from the project's
// own binaries: 3 Vault nodes on Raft, 3 nats-servers with nats_replicas=3,
// 2 relays. While a verified sender sends a steady stream of mail (about
// 8 a second, within the relays' default rate limits) and an agent keeps
// reading TOTP codes and waiting for codes by mail, the test kills the
// active Vault node, makes it step down, kills the NATS node leading the
// inbound stream (back with its store, then back with an empty one) and
// kills one of the two relays. Every mail that got 250 must be stored
// exactly once, and storing must resume within each fault's bound.
func TestFaultsLoseNoAcceptedMail(t *testing.T) {
	s := harness.StartClusterStack(t, 2)
	leader := s.Vault.WaitLeader(t)
	for _, w := range []struct {
		path string
		data map[string]interface{}
	}{
		{"mailgent/config", map[string]interface{}{"max_inbox_messages": 100000}},
		{"mailgent/orgs/acme", map[string]interface{}{}},
		{"mailgent/agents/bot", map[string]interface{}{"org": "acme"}},
		{"mailgent/agents/bot/creds/site", map[string]interface{}{"totp_secret": "JBSWY3DPEHPK3PXP"}},
	} {
		_, err := leader.Client.Logical().Write(w.path, w.data)
		require.NoError(t, err, w.path)
	}
	load := &mailLoad{relays: []string{s.Relays[0].Addr, s.Relays[1].Addr}, sender: s.DNS.Sender(t, "svc.example", harness.SenderOptions{}),
		to: "bot@" + s.Domain, every: 125 * time.Millisecond, accepted: map[string]time.Time{}}
	require.Eventually(t, func() bool { return load.send(context.Background(), "warm-up", "") }, 60*time.Second, 500*time.Millisecond)

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go load.run(ctx, &wg)
	w := &watchers{}
	w.run(ctx, &wg, s, load)

	js := natsClient(t, s)
	phases := faultPhases(t, s, js)
	windows := make([][2]time.Time, len(phases))
	for i, p := range phases {
		time.Sleep(8 * time.Second)
		windows[i][0] = time.Now()
		p.inject(t)
		time.Sleep(25 * time.Second)
		windows[i][1] = time.Now()
	}
	stop()
	wg.Wait()
	checkNothingLost(t, s, load, phases, windows, w)
}

// natsClient is a plugin-user JetStream client of the cluster.
func natsClient(t *testing.T, s *harness.ClusterStack) jetstream.JetStream {
	nc, err := bus.Connect(s.NATS.Options("test"))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

// streamLeader is the NATS node leading the inbound stream.
func streamLeader(t *testing.T, s *harness.ClusterStack, js jetstream.JetStream) *harness.NATS {
	t.Helper()
	var node *harness.NATS
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		st, err := js.Stream(ctx, bus.InboundStream)
		if err != nil || st.CachedInfo().Cluster == nil {
			return false
		}
		node = s.NATS.NodeNamed(st.CachedInfo().Cluster.Leader)
		return node != nil
	}, 30*time.Second, 250*time.Millisecond, "no leader of the inbound stream")
	return node
}

func faultPhases(t *testing.T, s *harness.ClusterStack, js jetstream.JetStream) []phase {
	// Bounds: a Vault failover elects a leader in a few seconds, and the
	// new active node's plugin connects and resumes at once; messages the
	// old one held come back after the consumer's 10 s AckWait. A NATS
	// stream leader's loss is noticed within two 2 s pull heartbeats and a
	// new leader elected in seconds. 30 s leaves room for this 2-core VM.
	return []phase{
		{"kill -9 of the active Vault node", 30 * time.Second, func(t *testing.T) {
			old := s.Vault.WaitLeader(t)
			old.Kill()
			s.Vault.WaitLeader(t)
			time.Sleep(5 * time.Second)
			s.Vault.Restart(t, old)
		}},
		{"step-down of the active Vault node", 30 * time.Second, func(t *testing.T) { s.Vault.StepDown(t) }},
		{"kill -9 of the inbound stream's NATS leader, back with its store", 30 * time.Second, func(t *testing.T) {
			node := streamLeader(t, s, js)
			node.Kill()
			time.Sleep(10 * time.Second)
			node.Restart(t, false)
		}},
		{"kill -9 of the inbound stream's NATS leader, back with an empty store", 30 * time.Second, func(t *testing.T) {
			node := streamLeader(t, s, js)
			node.Kill()
			time.Sleep(10 * time.Second)
			node.Restart(t, true)
		}},
		{"kill -9 of one of the two relays", 30 * time.Second, func(t *testing.T) { s.Relays[0].Kill() }},
	}
}

// checkNothingLost waits for every accepted mail to be stored and checks:
// none lost, none twice, and storing never paused longer than each
// phase's bound; it reports the figures.
func checkNothingLost(t *testing.T, s *harness.ClusterStack, load *mailLoad, phases []phase, windows [][2]time.Time, w *watchers) {
	c := s.Vault.WaitLeader(t).Client
	var stored map[string][]time.Time
	missing := 0
	deadline := time.Now().Add(2 * time.Minute)
	for {
		stored = storedMail(t, c, "bot")
		missing = 0
		for subject := range load.accepted {
			if len(stored[subject]) == 0 {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Second)
	}
	dups := 0
	var all []time.Time
	for _, at := range stored {
		if len(at) > 1 {
			dups += len(at) - 1
		}
		all = append(all, at...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Before(all[j]) })
	t.Logf("mail: %d accepted (250), %d stored, %d lost, %d duplicated; %d retries by the senders",
		len(load.accepted), len(stored), missing, dups, load.retries)
	t.Logf("agent: TOTP %d read, %d failed (last: %v); messages/wait %d answered, %d timed out or failed, of %d probes sent",
		w.totpOK.Load(), w.totpErr.Load(), w.lastTOTPErr.Load(), w.waitOK.Load(), w.waitMiss.Load(), w.probeSent.Load())
	for i, p := range phases {
		gap := largestGap(all, windows[i][0], windows[i][1])
		acc, st, dup := 0, 0, 0
		for subject, at := range load.accepted {
			if at.Before(windows[i][0]) || at.After(windows[i][1]) {
				continue
			}
			acc++
			if n := len(stored[subject]); n > 0 {
				st++
				dup += n - 1
			}
		}
		t.Logf("%-70s accepted %4d, stored %4d, duplicated %d; store gap %5.1f s (bound %s)", p.name, acc, st, dup, gap.Seconds(), p.bound)
		require.Less(t, gap, p.bound, "%s: storing paused for %s", p.name, gap)
	}
	require.Zero(t, missing, "accepted mail was lost")
	require.Zero(t, dups, "mail was stored twice")
	require.Greater(t, w.totpOK.Load(), int64(0))
	require.Greater(t, w.waitOK.Load(), int64(0))
}

// largestGap is the longest time without a store between from and to.
func largestGap(sorted []time.Time, from, to time.Time) time.Duration {
	prev := from
	var gap time.Duration
	for _, at := range sorted {
		if at.Before(from) {
			continue
		}
		if at.After(to) {
			break
		}
		gap = max(gap, at.Sub(prev))
		prev = at
	}
	return max(gap, to.Sub(prev))
}
