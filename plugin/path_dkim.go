package plugin

import (
	"context"
	"net/http"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

func (b *backend) pathDKIM() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:      "config/dkim",
			DisplayAttrs: pathDisplay("dkim-records"),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: b.pathDKIMRead},
			},
			HelpSynopsis: "The DKIM DNS records to publish for the domain. Private keys never leave the plugin.",
			HelpDescription: `selector, dns_name and dns_txt are the RSA key's record (every verifier
knows RSA); keys lists every current key, Ed25519 included. Publish each
dns_txt as a TXT record at its dns_name.`,
		},
		{
			Pattern:      "config/dkim/rotate",
			DisplayAttrs: pathDisplay("dkim-keys"),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{Callback: b.pathDKIMRotate, DisplayAttrs: opVerb("rotate")},
			},
			HelpSynopsis: "Generate new DKIM keys under new selectors; sign with them from now on.",
			HelpDescription: `The previous keys are listed under previous_keys: keep their DNS records
published until mail signed with them has been delivered and verified.`,
		},
	}
}

func dkimResponse(domain string, keys *dkimKeys) map[string]interface{} {
	list := func(ks []dkimKey) []map[string]interface{} {
		out := make([]map[string]interface{}, len(ks))
		for i, k := range ks {
			out[i] = map[string]interface{}{
				"selector": k.Selector, "algorithm": k.Algorithm, "dns_name": k.dnsName(domain),
				"dns_txt": k.dnsTXT(), "created_at": k.CreatedAt.Format(time.RFC3339),
			}
		}
		return out
	}
	m := map[string]interface{}{"domain": domain, "keys": list(keys.Current), "previous_keys": list(keys.Previous)}
	for _, k := range keys.Current {
		if k.Algorithm == "rsa" {
			m["selector"], m["dns_name"], m["dns_txt"] = k.Selector, k.dnsName(domain), k.dnsTXT()
		}
	}
	return m
}

// configAndDKIM returns the config and the DKIM keys; both nil until the
// first config write made them.
func (b *backend) configAndDKIM(ctx context.Context, s logical.Storage) (*mailgentConfig, *dkimKeys, error) {
	cfg, err := b.config(ctx, s)
	if err != nil || cfg == nil {
		return nil, nil, err
	}
	keys, err := readDKIMKeys(ctx, s)
	if err != nil || keys == nil {
		return nil, nil, err
	}
	return cfg, keys, nil
}

func errNoDKIMKeys() error {
	return logical.CodedError(http.StatusNotFound, "no DKIM keys yet: write config first")
}

func (b *backend) pathDKIMRead(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	cfg, keys, err := b.configAndDKIM(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if keys == nil {
		return nil, errNoDKIMKeys()
	}
	return &logical.Response{Data: dkimResponse(cfg.Domain, keys)}, nil
}

func (b *backend) pathDKIMRotate(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	b.configLock.Lock()
	defer b.configLock.Unlock()
	cfg, keys, err := b.configAndDKIM(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if keys == nil {
		return nil, errNoDKIMKeys()
	}
	now := b.now().UTC()
	fresh, err := newDKIMKeys(now)
	if err != nil {
		return nil, err
	}
	if fresh[0].Selector == keys.Current[0].Selector {
		return logical.ErrorResponse("rotate: the keys were rotated less than a second ago"), nil
	}
	keys.Previous, keys.Current, keys.RotatedAt = keys.Current, fresh, now
	if err := putJSON(ctx, req.Storage, dkimStorageKey, keys); err != nil {
		return nil, err
	}
	return &logical.Response{Data: dkimResponse(cfg.Domain, keys)}, nil
}
