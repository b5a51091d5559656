// Command mailgent-dns is the DNS server of `make dev`: every name under
// .test and .localhost is a mail sender that authorises loopback senders,
// so the relay's DKIM/SPF/DMARC checks pass for local services; other names
// go to the system resolver. See `mailgent-dns -h`.
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

	"github.com/mailgent/mailgent/internal/devdns"
)

func main() {
	cfg, err := devdns.ParseFlags(os.Args[1:], os.Getenv, devdns.ResolvConf, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return
	case err != nil:
		fmt.Fprintln(os.Stderr, "mailgent-dns:", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := devdns.Run(ctx, cfg, logger); err != nil {
		logger.Error("DNS server stopped", "error", err)
		os.Exit(1)
	}
	logger.Info("stopped")
}
