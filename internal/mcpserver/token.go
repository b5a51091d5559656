package mcpserver

import (
	"context"
	"log/slog"

	"github.com/hashicorp/vault/api"
)

// KeepTokenAlive renews the client's token (an AppRole login's) until ctx
// ends or it reaches its max TTL; it returns at once for a token that is not
// renewable. Once renewal stops, tools fail with Vault's 403 and the server
// must be restarted with a fresh secret ID.
func KeepTokenAlive(ctx context.Context, vc *api.Client, logger *slog.Logger) {
	sec, err := vc.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		logger.Warn("token lookup-self failed: not renewing the token", "error", err)
		return
	}
	if ok, _ := sec.TokenIsRenewable(); !ok {
		return
	}
	ttl, err := sec.TokenTTL()
	if err != nil || ttl <= 0 {
		return
	}
	w, err := vc.NewLifetimeWatcher(&api.LifetimeWatcherInput{Secret: &api.Secret{Auth: &api.SecretAuth{
		ClientToken: vc.Token(), Renewable: true, LeaseDuration: int(ttl.Seconds()),
	}}})
	if err != nil {
		logger.Warn("token watcher", "error", err)
		return
	}
	go w.Start()
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-w.DoneCh():
			logger.Warn("the Vault token can no longer be renewed; restart with a fresh secret ID before it expires", "error", err)
			return
		case r := <-w.RenewCh():
			logger.Debug("token renewed", "at", r.RenewedAt)
		}
	}
}
