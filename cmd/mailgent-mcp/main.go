// Command mailgent-mcp is an MCP server for one Mailgent agent: its
// credentials, TOTP codes, inbox and outbound mail as tools. It speaks MCP
// over stdio, or streamable HTTP with -http. Vault comes from VAULT_ADDR and
// VAULT_TOKEN, or AppRole: MAILGENT_ROLE_ID with MAILGENT_SECRET_ID or
// MAILGENT_WRAPPED_SECRET_ID. Over HTTP every request needs a bearer token
// (MAILGENT_MCP_TOKEN, -http-token-file, or one generated and shown once on
// stderr), a loopback or the server's own Host and Origin, and TLS for a
// non-loopback bind.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mailgent/mailgent/internal/mcpserver"
	"github.com/mailgent/mailgent/internal/version"
)

func main() {
	fs := flag.NewFlagSet("mailgent-mcp", flag.ContinueOnError)
	agent := fs.String("agent", os.Getenv("MAILGENT_AGENT"), "the agent (env MAILGENT_AGENT)")
	mount := fs.String("mount", envOr("MAILGENT_MOUNT", "mailgent"), "the Mailgent mount (env MAILGENT_MOUNT)")
	var hf httpFlags
	fs.StringVar(&hf.addr, "http", "", "serve streamable HTTP on this address (e.g. 127.0.0.1:8931) instead of stdio; every request needs the bearer token")
	fs.StringVar(&hf.tokenFile, "http-token-file", "", "file holding the HTTP bearer token (else env MAILGENT_MCP_TOKEN, else one is generated and printed to stderr once)")
	fs.StringVar(&hf.tlsCert, "http-tls-cert", "", "TLS certificate (PEM) for -http; required for a non-loopback address")
	fs.StringVar(&hf.tlsKey, "http-tls-key", "", "TLS private key (PEM) for -http-tls-cert")
	showVersion := fs.Bool("version", false, "print the version")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		os.Exit(2)
	}
	if *showVersion {
		fmt.Println("mailgent-mcp", version.String())
		return
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil)) // stdout is the protocol
	var guard *mcpserver.HTTPConfig
	if hf.addr != "" {
		// Checked before the Vault login: a refused setup uses no secret ID.
		var err error
		if guard, err = hf.config(); err != nil {
			fmt.Fprintln(os.Stderr, "mailgent-mcp:", err)
			os.Exit(2)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	cfg := api.DefaultConfig()
	if os.Getenv(api.EnvVaultClientTimeout) == "" {
		cfg.Timeout = 6 * time.Minute // wait_for_code long-polls up to the mount's max_wait_timeout (at most 5m)
	}
	c, err := mcpserver.Login(lctx, cfg, *mount, *agent,
		os.Getenv("MAILGENT_ROLE_ID"), os.Getenv("MAILGENT_SECRET_ID"), os.Getenv("MAILGENT_WRAPPED_SECRET_ID"))
	cancel()
	if err != nil {
		logger.Error("login", "error", err)
		os.Exit(1)
	}
	go mcpserver.KeepTokenAlive(ctx, c.Vault(), logger)
	srv := mcpserver.New(c)

	if guard == nil {
		if err := srv.Run(ctx, &mcp.StdioTransport{}); err != nil && ctx.Err() == nil {
			logger.Error("mcp stdio", "error", err)
			os.Exit(1)
		}
		return
	}
	if err := hf.serve(ctx, mcpserver.HTTPHandler(srv, *guard), logger, *agent); err != nil {
		logger.Error("http", "error", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
