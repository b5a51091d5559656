package plugin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/stretchr/testify/require"
)

// takeCode takes one backup code and returns it with the count left.
func takeCode(t *testing.T, tb *testBackend, cred string) (string, int) {
	t.Helper()
	resp := tb.ok(t, logical.UpdateOperation, "agents/bot/creds/"+cred+"/backup-code", nil)
	return resp.Data["code"].(string), resp.Data["remaining"].(int)
}

func remainingOf(t *testing.T, tb *testBackend, cred string) interface{} {
	t.Helper()
	return tb.ok(t, logical.ReadOperation, "agents/bot/creds/"+cred, nil).Data["backup_codes_remaining"]
}

// Codes come out once each, in order, audited; a merge keeps the set and
// what was used; a new set starts afresh; an empty one removes them.
func TestBackupCodesLifecycle(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	codes := []string{"1111-2222", "3333 4444", "abcd-efgh"}
	tb.ok(t, logical.CreateOperation, "agents/bot/creds/site", map[string]interface{}{"password": "pw-site-1", "backup_codes": codes})

	read := tb.ok(t, logical.ReadOperation, "agents/bot/creds/site", nil)
	require.Equal(t, 3, read.Data["backup_codes_remaining"])
	list := tb.ok(t, logical.ListOperation, "agents/bot/creds/", nil)
	require.Equal(t, 3, list.Data["key_info"].(map[string]interface{})["site"].(map[string]interface{})["backup_codes_remaining"])
	for _, data := range []map[string]interface{}{read.Data, list.Data} {
		b, err := json.Marshal(data)
		require.NoError(t, err)
		for _, c := range codes {
			require.NotContains(t, string(b), c, "a read shows no code")
		}
	}
	for k, v := range snapshot(t, tb.storage) {
		for _, c := range codes {
			require.NotContains(t, v, c, "storage entry %s holds a code in clear", k)
		}
	}

	code, left := takeCode(t, tb, "site")
	require.Equal(t, codes[0], code)
	require.Equal(t, 2, left)
	// An update that does not name backup_codes keeps the set and its use.
	tb.ok(t, logical.UpdateOperation, "agents/bot/creds/site", map[string]interface{}{"password": "pw-site-2"})
	require.Equal(t, 2, remainingOf(t, tb, "site"))
	code, left = takeCode(t, tb, "site")
	require.Equal(t, codes[1], code)
	require.Equal(t, 1, left)
	code, left = takeCode(t, tb, "site")
	require.Equal(t, codes[2], code)
	require.Equal(t, 0, left)

	_, err := tb.do(logical.UpdateOperation, "agents/bot/creds/site/backup-code", nil)
	requireCoded(t, err, http.StatusConflict)
	require.Contains(t, err.Error(), "no unused backup code left (all 3 handed out)")
	requireDeniedEvent(t, tb, "bot", opBackupCode)

	// Version 1 had the same set: it shows none left either.
	old := tb.ok(t, logical.ReadOperation, "agents/bot/creds/site", map[string]interface{}{"version": 1})
	require.Equal(t, 0, old.Data["backup_codes_remaining"])

	// A new set, none used; the older versions' set is spent.
	tb.ok(t, logical.UpdateOperation, "agents/bot/creds/site", map[string]interface{}{"backup_codes": "n1-aaaa, n2-bbbb"})
	require.Equal(t, 2, remainingOf(t, tb, "site"))
	code, _ = takeCode(t, tb, "site")
	require.Equal(t, "n1-aaaa", code)
	require.Equal(t, 0, tb.ok(t, logical.ReadOperation, "agents/bot/creds/site", map[string]interface{}{"version": 2}).Data["backup_codes_remaining"])

	// An empty list removes them.
	tb.ok(t, logical.UpdateOperation, "agents/bot/creds/site", map[string]interface{}{"backup_codes": []string{}})
	require.Equal(t, 0, remainingOf(t, tb, "site"))
	_, err = tb.do(logical.UpdateOperation, "agents/bot/creds/site/backup-code", nil)
	requireCoded(t, err, http.StatusConflict)
	require.Contains(t, err.Error(), "has no backup codes")

	// The trail has each hand-out, with no code in it.
	events := tb.ok(t, logical.ReadOperation, "agents/bot/audit", map[string]interface{}{"operation": opBackupCode}).Data["events"].([]map[string]interface{})
	outcomes := map[string]int{}
	for _, ev := range events {
		outcomes[ev["outcome"].(string)]++
		b, _ := json.Marshal(ev)
		for _, c := range append(codes, "n1-aaaa", "n2-bbbb") {
			require.NotContains(t, string(b), c)
		}
	}
	require.Equal(t, map[string]int{outcomeSuccess: 4, outcomeDenied: 2}, outcomes)
}

// Concurrent takers never get the same code, and get every code once.
func TestBackupCodesConcurrentTakersGetEachCodeOnce(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	var codes []string
	for i := range 20 {
		codes = append(codes, fmt.Sprintf("code-%02d", i))
	}
	tb.ok(t, logical.CreateOperation, "agents/bot/creds/site", map[string]interface{}{"backup_codes": codes})
	var mu sync.Mutex
	got, conflicts := map[string]int{}, 0
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			resp, err := tb.do(logical.UpdateOperation, "agents/bot/creds/site/backup-code", nil)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				requireCoded(t, err, http.StatusConflict)
				conflicts++
				return
			}
			got[resp.Data["code"].(string)]++
		})
	}
	wg.Wait()
	require.Equal(t, 10, conflicts)
	require.Len(t, got, 20)
	for c, n := range got {
		require.Equal(t, 1, n, "code %s handed out %d times", c, n)
	}
}

// Bad backup_codes are a 400 naming the field, echo no code, change nothing.
func TestBackupCodesBadInputChangesNothing(t *testing.T) {
	tb := newTestBackend(t)
	tb.setup(t, "bot")
	tb.ok(t, logical.CreateOperation, "agents/bot/creds/site", map[string]interface{}{"password": "keep-me", "backup_codes": []string{"keep-1", "keep-2"}})
	before := snapshot(t, tb.storage)
	tooMany := make([]string, maxBackupCodes+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("c%03d", i)
	}
	cases := []struct {
		name  string
		codes interface{}
		err   string
	}{
		{"too many", tooMany, "backup_codes: 65 codes, at most 64"},
		{"duplicate", []string{"secret-dup-1", "x-2", "secret-dup-1"}, "backup_codes[2]: repeats backup_codes[0]"},
		{"empty element", []interface{}{"secret-ok-1", ""}, "backup_codes[1]: is empty"},
		{"control character", []string{"secret\x07bell"}, "backup_codes[0]: must be printable text"},
		{"over long", []string{strings.Repeat("s", maxBackupCodeLen+1)}, "backup_codes[0]: is 129 bytes"},
		{"not a list", map[string]interface{}{"secret-map": "x"}, "backup_codes: has the wrong type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tb.do(logical.UpdateOperation, "agents/bot/creds/site", map[string]interface{}{"backup_codes": tc.codes})
			status, msg := vaultStatus(logical.UpdateOperation, resp, err)
			require.Equal(t, http.StatusBadRequest, status, msg)
			require.Contains(t, msg, tc.err)
			require.NotContains(t, msg, "secret")
			require.Equal(t, before, snapshot(t, tb.storage), "storage changed")
		})
	}
	for _, tc := range []struct {
		path string
		data map[string]interface{}
		code int
	}{
		{"agents/bot/creds/none/backup-code", nil, http.StatusNotFound},
		{"agents/bot/creds/site/backup-code", map[string]interface{}{"count": 2}, http.StatusBadRequest},
		{"agents/bot/creds/../backup-code", nil, http.StatusBadRequest},
	} {
		resp, err := tb.do(logical.UpdateOperation, tc.path, tc.data)
		status, msg := vaultStatus(logical.UpdateOperation, resp, err)
		require.Equal(t, tc.code, status, "%s: %s", tc.path, msg)
	}
	require.Equal(t, before, snapshot(t, tb.storage), "storage changed")
	// A login report quoting a code is refused like one quoting the password.
	resp, err := tb.do(logical.UpdateOperation, "agents/bot/creds/site/login", map[string]interface{}{"outcome": "success", "detail": "used keep-1"})
	status, _ := vaultStatus(logical.UpdateOperation, resp, err)
	require.Equal(t, http.StatusBadRequest, status)
}
