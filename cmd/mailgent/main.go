// Command mailgent is the operator's CLI for Mailgent:
//
//	mailgent onboard -org acme -agent billing-bot [-create-org]
//	mailgent dev-certs -dir .data/tls [-hosts 127.0.0.1,localhost]
//
// onboard gives an agent its identity end to end; dev-certs makes the
// throwaway CA and server certificate of a development bus (make dev).
//
// It uses VAULT_ADDR and VAULT_TOKEN (an admin token) like the vault CLI;
// the token needs no more than the admin policy the plugin renders
// (vault read mailgent/admin-policy).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/mailgent/mailgent/internal/devcerts"
	"github.com/mailgent/mailgent/internal/onboard"
)

func main() {
	if len(os.Args) >= 2 && os.Args[1] == "dev-certs" {
		devCerts(os.Args[2:])
		return
	}
	if len(os.Args) < 2 || os.Args[1] != "onboard" {
		fmt.Fprintln(os.Stderr, "usage: mailgent onboard -org ORG -agent AGENT [flags]  (mailgent onboard -h for flags)\n       mailgent dev-certs -dir DIR")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("mailgent onboard", flag.ExitOnError)
	o := onboard.Options{}
	fs.StringVar(&o.Mount, "mount", envOr("MAILGENT_MOUNT", "mailgent"), "Mailgent mount path")
	fs.StringVar(&o.Org, "org", "", "the agent's org (required)")
	fs.BoolVar(&o.CreateOrg, "create-org", false, "create the org if it does not exist")
	fs.StringVar(&o.Agent, "agent", "", "the agent's name, the local part of its address (required)")
	fs.StringVar(&o.Description, "description", "", "what the agent is for")
	fs.StringVar(&o.AppRoleMount, "approle-mount", "approle", "AppRole auth mount path (enabled if missing)")
	fs.DurationVar(&o.TokenTTL, "token-ttl", time.Hour, "TTL of the agent's Vault tokens")
	fs.DurationVar(&o.TokenMaxTTL, "token-max-ttl", 24*time.Hour, "max TTL of the agent's Vault tokens")
	fs.DurationVar(&o.SecretIDTTL, "secret-id-ttl", onboard.DefaultSecretIDTTL, "how long a secret ID of the agent's role can log in (negative: no limit)")
	fs.IntVar(&o.SecretIDNumUses, "secret-id-num-uses", onboard.DefaultSecretIDNumUses, "logins per secret ID (negative: no limit)")
	secretCIDRs := fs.String("secret-id-bound-cidrs", "", "comma-separated CIDRs the agent may log in from (default: anywhere)")
	tokenCIDRs := fs.String("token-bound-cidrs", "", "comma-separated CIDRs the agent's tokens may be used from (default: anywhere)")
	fs.DurationVar(&o.WrapTTL, "wrap-ttl", onboard.DefaultWrapTTL, "how long the wrapped secret ID can be unwrapped")
	fs.BoolVar(&o.NoSecretID, "no-secret-id", false, "create the agent and its role but mint no secret ID (for the strict admin policy)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	_ = fs.Parse(os.Args[2:])
	o.SecretIDBoundCIDRs, o.TokenBoundCIDRs = splitList(*secretCIDRs), splitList(*tokenCIDRs)
	if o.Org == "" || o.Agent == "" {
		fmt.Fprintln(os.Stderr, "mailgent onboard: -org and -agent are required")
		os.Exit(2)
	}

	client, err := api.NewClient(api.DefaultConfig())
	if err != nil {
		fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := onboard.Run(ctx, client, o)
	if err != nil {
		fail(err)
	}
	if *asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	fmt.Printf(`Agent %s is onboarded.

  address            %s
  delegation chain   %v
  policy             %s (the mount's templated agent policy)
  AppRole role       auth/%s/role/%s
  role_id            %s
`, res.Agent, res.Address, res.Chain, res.Policy, res.AppRoleMount, res.Role, res.RoleID)
	if res.WrappingToken == "" {
		fmt.Printf(`
No secret ID was minted. Whoever issues them runs:

  vault write -wrap-ttl=10m auth/%s/role/%s/secret-id metadata='%s'
`, res.AppRoleMount, res.Role, res.SecretIDMetadata)
		return
	}
	fmt.Printf(`  wrapped secret_id  %s   (unwrap once, within %s)

Hand role_id and the wrapping token to the agent. It logs in with:

  secret_id=$(VAULT_TOKEN=<wrapping token> vault unwrap -field=secret_id)
  vault write auth/%s/login role_id=%s secret_id=$secret_id
`, res.WrappingToken, res.WrapTTL, res.AppRoleMount, res.RoleID)
}

// devCerts writes a throwaway CA and a loopback server certificate.
func devCerts(args []string) {
	fs := flag.NewFlagSet("mailgent dev-certs", flag.ExitOnError)
	dir := fs.String("dir", "", "directory to write ca.pem, server.pem and server-key.pem to (required)")
	hosts := fs.String("hosts", "127.0.0.1,localhost", "comma-separated names and addresses the server certificate is for")
	lifetime := fs.Duration("lifetime", 7*24*time.Hour, "how long the certificates are valid")
	_ = fs.Parse(args)
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "mailgent dev-certs: -dir is required")
		os.Exit(2)
	}
	files, err := devcerts.Generate(*dir, splitList(*hosts), *lifetime)
	if err != nil {
		fail(err)
	}
	fmt.Println(files.CA)
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mailgent onboard:", err)
	os.Exit(1)
}
