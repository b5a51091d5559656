package webhook

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The Standard Webhooks specification's own test vector (its libraries'
// TestWebhookSign), and a secret without the prefix.
func TestSignKnownVector(t *testing.T) {
	for _, tc := range []struct{ name, secret string }{
		{"with prefix", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		{"without prefix", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sig, err := Sign(tc.secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
			require.NoError(t, err)
			require.Equal(t, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", sig)
		})
	}
	_, err := Sign("whsec_not base64!", "msg_x", time.Unix(1, 0), nil)
	require.ErrorIs(t, err, ErrBadSecret)
	require.NotContains(t, err.Error(), "not base64!", "the error never carries the secret")
}

func TestNewSecret(t *testing.T) {
	a, err := NewSecret()
	require.NoError(t, err)
	b, err := NewSecret()
	require.NoError(t, err)
	require.NotEqual(t, a, b)
	require.True(t, strings.HasPrefix(a, "whsec_"))
	key, err := SecretKey(a)
	require.NoError(t, err)
	require.Len(t, key, 32)
}

func TestEventIDIsStablePerWebhookAndSource(t *testing.T) {
	id := EventID("hook-1", "message.received/abc")
	require.True(t, ValidEventID(id), id)
	require.Equal(t, id, EventID("hook-1", "message.received/abc"))
	require.NotEqual(t, id, EventID("hook-2", "message.received/abc"))
	require.NotEqual(t, id, EventID("hook-1", "message.received/abd"))
	require.False(t, ValidEventID("msg_../../x"))
}

func TestScheduleDelays(t *testing.T) {
	s := DefaultSchedule()
	want := []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour, time.Hour, time.Hour}
	for i, d := range want {
		require.Equal(t, d, s.Delay(i+1), "after attempt %d", i+1)
	}
	require.Equal(t, 5*time.Second, s.Delay(0))
	// Hourly after the fifth retry: about 29 attempts within MaxAge.
	var total time.Duration
	attempts := 1
	for total+s.Delay(attempts) <= MaxAge {
		total += s.Delay(attempts)
		attempts++
	}
	require.Equal(t, 29, attempts)

	parsed, err := ParseSchedule(s.String())
	require.NoError(t, err)
	require.Equal(t, s, parsed)
	for _, bad := range []string{"", "5s,", "soon", "500ms", "25h"} {
		t.Run(bad, func(t *testing.T) {
			_, err := ParseSchedule(bad)
			require.Error(t, err)
		})
	}
}

func TestCheckURL(t *testing.T) {
	strict := Policy{}
	private := Policy{AllowPrivate: true}
	hosts := Policy{AllowedHosts: []string{"127.0.0.1", "hooks.internal"}}
	for _, tc := range []struct {
		name, url string
		p         Policy
		err       string // "" accepted; else a fragment of the error
		refused   bool
	}{
		{"public https", "https://hooks.example.com/mailgent?x=1", strict, "", false},
		{"public IP", "https://8.8.8.8/hook", strict, "", false},
		{"http refused", "http://hooks.example.com/", strict, "http is allowed only", true},
		{"ftp", "ftp://hooks.example.com/", strict, "must use https", false},
		{"relative", "/hook", strict, "not an absolute", false},
		{"credentials", "https://u:p@hooks.example.com/", strict, "credentials", false},
		{"fragment", "https://hooks.example.com/#x", strict, "fragment", false},
		{"bad port", "https://hooks.example.com:99999/", strict, "invalid port", false},
		{"loopback", "https://127.0.0.1/", strict, "loopback", true},
		{"loopback v6", "https://[::1]/", strict, "loopback", true},
		{"mapped loopback", "https://[::ffff:127.0.0.1]/", strict, "loopback", true},
		{"localhost", "https://localhost:8443/", strict, "loopback", true},
		{"private 10", "https://10.1.2.3/", strict, "private", true},
		{"private 192.168", "https://192.168.0.10/", strict, "private", true},
		{"link-local metadata", "https://169.254.169.254/latest", strict, "link-local", true},
		{"CGNAT", "https://100.64.0.1/", strict, "carrier-grade", true},
		{"ULA v6", "https://[fd00::1]/", strict, "private", true},
		{"unspecified even allowed", "https://0.0.0.0/", private, "unspecified", true},
		{"multicast even allowed", "https://224.0.0.1/", private, "multicast", true},
		{"private allowed", "https://10.1.2.3/", private, "", false},
		{"localhost allowed", "https://localhost/", private, "", false},
		{"http to private still refused", "http://10.1.2.3/", private, "http is allowed only", true},
		{"allowed host http", "http://127.0.0.1:8080/hook", hosts, "", false},
		{"allowed name http", "http://Hooks.Internal/hook", hosts, "", false},
		{"other loopback not allowed", "http://127.0.0.2/", hosts, "http is allowed only", true},
		{"too long", "https://hooks.example.com/" + strings.Repeat("a", MaxURLBytes), strict, "longer than", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.p.CheckURL(tc.url)
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
			require.Equal(t, tc.refused, errors.Is(err, ErrRefused))
		})
	}
}

// A name is checked by every address it resolves to.
func TestCheckResolved(t *testing.T) {
	lookup := func(answers ...string) func(context.Context, string, string) ([]netip.Addr, error) {
		return func(context.Context, string, string) ([]netip.Addr, error) {
			var out []netip.Addr
			for _, a := range answers {
				out = append(out, netip.MustParseAddr(a))
			}
			return out, nil
		}
	}
	ctx := context.Background()
	_, err := Policy{}.CheckResolved(ctx, "hooks.example.com", lookup("93.184.216.34"))
	require.NoError(t, err)
	_, err = Policy{}.CheckResolved(ctx, "rebind.example.com", lookup("127.0.0.1"))
	require.ErrorIs(t, err, ErrRefused)
	require.ErrorContains(t, err, "rebind.example.com resolves to a loopback address (127.0.0.1)")
	_, err = Policy{}.CheckResolved(ctx, "mixed.example.com", lookup("93.184.216.34", "10.0.0.1"))
	require.ErrorIs(t, err, ErrRefused, "one non-public answer refuses the name")
	_, err = Policy{AllowPrivate: true}.CheckResolved(ctx, "mixed.example.com", lookup("93.184.216.34", "10.0.0.1"))
	require.NoError(t, err)
	_, err = Policy{}.CheckResolved(ctx, "empty.example.com", lookup())
	require.ErrorContains(t, err, "no address")
}

// The dialer connects to the address it checked, never to one the name
// resolves to afterwards; refused, it makes no connection at all.
func TestDialerDialsTheCheckedAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	accepted := make(chan struct{}, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	lookups := 0
	d := &Dialer{Timeout: time.Second, Lookup: func(context.Context, string, string) ([]netip.Addr, error) {
		lookups++
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}}

	_, err = d.DialContext(context.Background(), "tcp", net.JoinHostPort("hooks.example.com", port))
	require.ErrorIs(t, err, ErrRefused, "no policy: the strictest")
	ctx := WithPolicy(context.Background(), Policy{AllowedHosts: []string{"hooks.internal"}})
	_, err = d.DialContext(ctx, "tcp", net.JoinHostPort("hooks.example.com", port))
	require.ErrorIs(t, err, ErrRefused)
	select {
	case <-accepted:
		t.Fatal("a refused target was connected to")
	case <-time.After(100 * time.Millisecond):
	}

	c, err := d.DialContext(WithPolicy(context.Background(), Policy{AllowPrivate: true}), "tcp", net.JoinHostPort("hooks.example.com", port))
	require.NoError(t, err)
	c.Close()
	<-accepted
	require.Equal(t, 3, lookups, "resolved once per dial")
}
