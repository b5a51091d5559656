package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/mailgent/mailgent/internal/mcpserver"
)

// httpFlags are the -http mode's flags.
type httpFlags struct {
	addr, tokenFile, tlsCert, tlsKey string
}

// config checks the flags (TLS for a non-loopback bind, a usable token)
// and prints a generated token once, to stderr.
func (f httpFlags) config() (*mcpserver.HTTPConfig, error) {
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return nil, errors.New("-http-tls-cert and -http-tls-key go together")
	}
	if err := mcpserver.CheckListen(f.addr, f.tlsCert != ""); err != nil {
		return nil, err
	}
	var leaf *x509.Certificate
	if f.tlsCert != "" {
		pair, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("-http-tls-cert/-http-tls-key: %w", err)
		}
		leaf = pair.Leaf
	}
	token, generated, err := mcpserver.HTTPToken(f.tokenFile, os.Getenv("MAILGENT_MCP_TOKEN"))
	if err != nil {
		return nil, err
	}
	if generated {
		fmt.Fprintf(os.Stderr, "mailgent-mcp: HTTP bearer token for this run (send \"Authorization: Bearer <token>\"; shown only now): %s\n", token)
	}
	return &mcpserver.HTTPConfig{Token: token, Hosts: mcpserver.AllowedHosts(f.addr, leaf)}, nil
}

// serve runs the HTTP server until ctx ends.
func (f httpFlags) serve(ctx context.Context, h http.Handler, logger *slog.Logger, agent string) error {
	hs := &http.Server{Addr: f.addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	logger.Info("serving MCP over streamable HTTP", "addr", f.addr, "tls", f.tlsCert != "", "agent", agent)
	var err error
	if f.tlsCert != "" {
		err = hs.ListenAndServeTLS(f.tlsCert, f.tlsKey)
	} else {
		err = hs.ListenAndServe()
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
