// Command mailgent-relay is Mailgent's SMTP relay. See `mailgent-relay -h`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/mailgent/mailgent/internal/version"
	"github.com/mailgent/mailgent/relay"
)

func main() {
	// Fewer garbage collections: each message allocates its parse, and
	// the collector's share of the relay's CPU under load is measured in
	// docs/benchmarks.md. GOGC, when set, wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	cfg, err := relay.ParseFlags(os.Args[1:], os.Getenv, os.Stderr)
	switch {
	case errors.Is(err, relay.ErrVersion):
		fmt.Println("mailgent-relay", version.String())
		return
	case errors.Is(err, relay.ErrPrintRegistration):
		if err := relay.PrintRegistration(os.Stdout, cfg.KeyFile); err != nil {
			fmt.Fprintln(os.Stderr, "mailgent-relay:", err)
			os.Exit(1)
		}
		return
	case errors.Is(err, flag.ErrHelp):
		return
	case err != nil:
		fmt.Fprintln(os.Stderr, "mailgent-relay:", err)
		os.Exit(2)
	}
	logger := cfg.NewLogger(os.Stderr)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	srv, err := relay.New(cfg, logger)
	if err != nil {
		logger.Error("configuration", "error", err)
		os.Exit(2)
	}
	l, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		logger.Error("listen", "addr", cfg.ListenAddr, "error", err)
		os.Exit(1)
	}
	if err := srv.Run(ctx, l); err != nil {
		logger.Error("relay stopped", "error", err)
		os.Exit(1)
	}
}
