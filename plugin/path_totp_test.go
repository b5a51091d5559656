package plugin

import (
	"encoding/base32"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/rfc6238"
)

var rfcSeeds = map[string][]byte{
	"SHA1":   []byte("12345678901234567890"),
	"SHA256": []byte("12345678901234567890123456789012"),
	"SHA512": []byte("1234567890123456789012345678901234567890123456789012345678901234"),
}

func TestTOTPAppendixBVectors(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	for alg, seed := range rfcSeeds {
		tb.ok(t, logical.CreateOperation, "agents/bot/creds/rfc-"+alg, map[string]interface{}{
			"totp_secret": base32.StdEncoding.EncodeToString(seed), "totp_algorithm": alg, "totp_digits": 8,
		})
	}
	// RFC 6238 Appendix B.
	vectors := []struct {
		unix                 int64
		sha1, sha256, sha512 string
	}{
		{59, "94287082", "46119246", "90693936"},
		{1111111109, "07081804", "68084774", "25091201"},
		{1111111111, "14050471", "67062674", "99943326"},
		{1234567890, "89005924", "91819424", "93441116"},
		{2000000000, "69279037", "90698825", "38618901"},
		{20000000000, "65353130", "77737706", "47863826"},
	}
	for _, v := range vectors {
		at := time.Unix(v.unix, 0)
		tb.now = func() time.Time { return at }
		for alg, want := range map[string]string{"SHA1": v.sha1, "SHA256": v.sha256, "SHA512": v.sha512} {
			resp := tb.ok(t, logical.ReadOperation, "agents/bot/creds/rfc-"+alg+"/totp", nil)
			require.Equal(t, want, resp.Data["code"], "T=%d %s", v.unix, alg)
			require.Equal(t, want, rfc6238.Code(rfcSeeds[alg], alg, 8, 30, at), "the independent implementation agrees")
		}
	}
}

func TestTOTPEveryCombinationMatchesIndependentComputation(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	times := []time.Time{time.Unix(0, 0), time.Unix(1_700_000_029, 0), time.Unix(1_700_000_030, 0), time.Date(2026, 11, 26, 12, 0, 59, 0, time.UTC)}
	for alg, seed := range rfcSeeds {
		for _, digits := range []int{6, 8} {
			for _, period := range []int{15, 30, 60, 90} {
				cred := fmt.Sprintf("c-%s-%d-%d", alg, digits, period)
				tb.ok(t, logical.CreateOperation, "agents/bot/creds/"+cred, map[string]interface{}{
					"totp_uri": fmt.Sprintf("otpauth://totp/x?secret=%s&algorithm=%s&digits=%d&period=%d",
						base32.StdEncoding.EncodeToString(seed), alg, digits, period),
				})
				for _, at := range times {
					tb.now = func() time.Time { return at }
					resp := tb.ok(t, logical.ReadOperation, "agents/bot/creds/"+cred+"/totp", nil)
					require.Equal(t, rfc6238.Code(seed, alg, digits, period, at), resp.Data["code"], "%s at %d", cred, at.Unix())
					step := at.Unix() / int64(period)
					require.Equal(t, int((step+1)*int64(period)-at.Unix()), resp.Data["seconds_remaining"])
					require.Equal(t, time.Unix((step+1)*int64(period), 0).UTC().Format(time.RFC3339), resp.Data["valid_until"])
					require.Equal(t, period, resp.Data["period"])
					require.Equal(t, digits, resp.Data["digits"])
					require.Equal(t, alg, resp.Data["algorithm"])
				}
			}
		}
	}
}

func TestTOTPMinRemainingWaitsForNextStep(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	tb.ok(t, logical.CreateOperation, "agents/bot/creds/s", map[string]interface{}{"totp_secret": rfcSeed, "totp_period": 2})
	// Real clock: with period 2 and min_remaining 2, any call not at the
	// very start of a step waits for the next one and gets 2 s left.
	start := time.Now()
	resp := tb.ok(t, logical.ReadOperation, "agents/bot/creds/s/totp", map[string]interface{}{"min_remaining": 2})
	require.Equal(t, 2, resp.Data["seconds_remaining"])
	require.Less(t, time.Since(start), 2500*time.Millisecond, "the wait is bounded by the period")

	for _, bad := range []interface{}{-1, 3, "soon"} {
		resp, err := tb.do(logical.ReadOperation, "agents/bot/creds/s/totp", map[string]interface{}{"min_remaining": bad})
		require.NoError(t, err)
		require.True(t, resp.IsError(), "%v", bad)
		require.Contains(t, resp.Error().Error(), "min_remaining")
	}
}

func TestTOTPWithoutSeed(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	tb.ok(t, logical.CreateOperation, "agents/bot/creds/nototp", map[string]interface{}{"password": "x"})
	resp, err := tb.do(logical.ReadOperation, "agents/bot/creds/nototp/totp", nil)
	status, msg := vaultStatus(logical.ReadOperation, resp, err)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, msg, "no TOTP seed")
}

// A revocation while a TOTP min_remaining wait is in progress ends it with
// 410 at once, never with a code, and the denial is on the record.
func TestRevocationEndsAWaitingTOTPWith410(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	tb.ok(t, logical.CreateOperation, "agents/bot/creds/s", map[string]interface{}{"totp_secret": base32.StdEncoding.EncodeToString(rfcSeeds["SHA1"])})
	// 20 s left in the step: min_remaining=25 waits for the next one.
	at := time.Unix(1_800_000_010, 0)
	tb.now = func() time.Time { return at }
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := tb.do(logical.ReadOperation, "agents/bot/creds/s/totp", map[string]interface{}{"min_remaining": 25})
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("the wait ended before the revocation: %v", err)
	default:
	}
	tb.ok(t, logical.DeleteOperation, "agents/bot", nil)
	err := <-done
	requireCoded(t, err, http.StatusGone)
	require.Less(t, time.Since(start), 5*time.Second, "woken by the revocation, not by the step")
	requireDeniedEvent(t, tb, "bot", opTOTPGenerate)
}
