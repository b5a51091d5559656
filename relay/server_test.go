package relay

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// startServer runs a relay in-process on 127.0.0.1:0. Its NATS URL points
// at nothing: the SMTP side must greet and answer with the bus down.
func startServer(t *testing.T, mutate func(*Config)) string {
	t.Helper()
	return startServerWith(t, mutate, nil)
}

// startServerWith is startServer with setup run on the server before it
// serves (to put a fake bus behind its delivery, say).
func startServerWith(t *testing.T, mutate func(*Config), setup func(*Server)) string {
	t.Helper()
	cfg := DefaultConfig()
	cfg.KeyFile = testKeyFile(t)
	cfg.Domain = "agents.example.com"
	cfg.NATS.URL = "nats://127.0.0.1:1"
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	if setup != nil {
		setup(srv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("relay did not shut down")
		}
	})
	return l.Addr().String()
}

func TestPerIPSessionLimit(t *testing.T) {
	addr := startServer(t, func(c *Config) { c.MaxSessionsPerIP = 2 })
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		held = append(held, c)
		line, err := bufio.NewReader(c).ReadString('\n')
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(line, "220 "), line)
	}
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	line, err := bufio.NewReader(c).ReadString('\n')
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(line, "421 4.7.0"), line)
	c.Close()

	// A slot frees when a session ends.
	held[0].Close()
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		defer c.Close()
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.HasPrefix(line, "220 ")
	}, 5*time.Second, 20*time.Millisecond)
	held[1].Close()
}

// testKeyFile is where a test relay makes its key.
func testKeyFile(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "relay.key")
}
