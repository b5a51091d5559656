#!/bin/sh
# The vault-init service of docker-compose.yml: brings the 3-node Vault
# cluster to where `make dev-cluster` has it, and may run again at any time
# (after `docker compose restart vault-2`, say) — every step checks first:
#   1. initialise the cluster once, keeping the unseal key and the root
#      token in $SECRETS_DIR (a volume, files 0600; never printed);
#   2. unseal every node, and wait until all are Raft voters;
#   3. register the plugin by SHA-256 (and reload it when the binary changed),
#      mount it, enable a file audit device on every node's log volume;
#   4. write the mount's config: the NATS cluster over TLS, nats_replicas;
#   5. register each relay's public keys (made by the relay-keys service);
#   6. AppRole, the templated agent policy and the two admin policies.
# No secret is passed on a command line: keys, tokens and passwords go by
# file (@…) or environment. POSIX sh: it runs in the Vault image's busybox
# and in integration/compose_test.go.
set -eu

: "${VAULT_ADDRS:=https://vault-1:8200 https://vault-2:8200 https://vault-3:8200}"
: "${SECRETS_DIR:=/secrets}"
: "${PLUGIN_FILE:=/plugin/vault-plugin-mailgent}"
: "${REGISTRATIONS_DIR:=/registrations}"
: "${RELAYS:=relay-1 relay-2}"
: "${NATS_URL:=nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222}"
: "${NATS_CA_FILE:=/ca/ca.pem}"
: "${NATS_REPLICAS:=3}"
: "${AUDIT_FILE:=/vault/logs/audit.log}"
: "${MAILGENT_DOMAIN:?set MAILGENT_DOMAIN}"
: "${MAILGENT_NATS_PLUGIN_PASSWORD:?set MAILGENT_NATS_PLUGIN_PASSWORD}"
MOUNT=mailgent
PLUGIN=vault-plugin-mailgent
NODES=0
for a in $VAULT_ADDRS; do NODES=$((NODES + 1)); done
FIRST=${VAULT_ADDRS%% *}
export VAULT_ADDR="$FIRST"
unset VAULT_TOKEN

say() { echo "vault-init: $*"; }
die() { echo "vault-init: $*" >&2; exit 1; }

# retry SECONDS COMMAND...: until the command succeeds, or fail.
retry() {
	n=$1
	shift
	while ! "$@" >/dev/null 2>&1; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 1
	done
}

# answers ADDR: the node serves its API, sealed or not (status 1 is an error).
answers() { rc=0; VAULT_ADDR=$1 vault status >/dev/null 2>&1 || rc=$?; [ "$rc" != 1 ]; }
unsealed() { VAULT_ADDR=$1 vault status >/dev/null 2>&1; }
# unseal ADDR: the key by file; a node that has not joined yet refuses it.
unseal() { VAULT_ADDR=$1 vault write sys/unseal key=@"$SECRETS_DIR/unseal-key" >/dev/null 2>&1 || true; unsealed "$1"; }
voters() { [ "$(vault operator raft list-peers -format=json 2>/dev/null | grep -c '"voter": true')" = "$NODES" ]; }

init_cluster() {
	for a in $VAULT_ADDRS; do retry 120 answers "$a" || die "$a does not answer"; done
	if vault status -format=json 2>/dev/null | grep -q '"initialized": true'; then
		[ -s "$SECRETS_DIR/unseal-key" ] || die "the cluster is initialised but $SECRETS_DIR/unseal-key is missing"
		return
	fi
	say "initialising the cluster (one unseal key, kept in $SECRETS_DIR)"
	(umask 077 && vault operator init -key-shares=1 -key-threshold=1 -format=json | tr -d ' \n' >"$SECRETS_DIR/init.json")
	(umask 077 && sed -n 's/.*"unseal_keys_b64":\["\([^"]*\)".*/\1/p' "$SECRETS_DIR/init.json" >"$SECRETS_DIR/unseal-key")
	(umask 077 && sed -n 's/.*"root_token":"\([^"]*\)".*/\1/p' "$SECRETS_DIR/init.json" >"$SECRETS_DIR/root-token")
	rm -f "$SECRETS_DIR/init.json"
	[ -s "$SECRETS_DIR/unseal-key" ] && [ -s "$SECRETS_DIR/root-token" ] || die "vault operator init gave no key or token"
}

unseal_all() {
	for a in $VAULT_ADDRS; do retry 120 unseal "$a" || die "could not unseal $a"; done
	VAULT_TOKEN=$(cat "$SECRETS_DIR/root-token")
	export VAULT_TOKEN
	# Nodes join as non-voters; autopilot promotes them once stable.
	retry 180 voters || die "not every node became a Raft voter"
	say "$NODES nodes unsealed, every one a Raft voter"
}

mount_plugin() {
	sha=$(sha256sum "$PLUGIN_FILE" | cut -d' ' -f1)
	mounted=false
	if vault secrets list -format=json | grep -q "\"$MOUNT/\""; then mounted=true; fi
	if [ "$(vault plugin info -field=sha256 secret "$PLUGIN" 2>/dev/null || true)" != "$sha" ]; then
		say "registering $PLUGIN (sha256 $sha)"
		retry 30 vault plugin register -sha256="$sha" secret "$PLUGIN" || die "plugin register failed"
		if $mounted; then vault plugin reload -plugin="$PLUGIN" >/dev/null; fi
	fi
	if ! $mounted; then
		# Vault's audit log shows who and what in clear, never a secret.
		set --
		for k in agent org address delegation_chain credential version current_version status outcome event_id valid_until seconds_remaining; do
			set -- "$@" -audit-non-hmac-response-keys="$k"
		done
		vault secrets enable -path="$MOUNT" -description="Mailgent agent identities" "$@" "$PLUGIN" >/dev/null
	fi
	if ! vault audit list -format=json 2>/dev/null | grep -q '"file/"'; then
		vault audit enable file file_path="$AUDIT_FILE" >/dev/null
	fi
}

configure() {
	(umask 077 && printf %s "$MAILGENT_NATS_PLUGIN_PASSWORD" >"$SECRETS_DIR/nats-plugin-password")
	vault write "$MOUNT/config" domain="$MAILGENT_DOMAIN" nats_url="$NATS_URL" nats_username=mailgent-plugin \
		nats_password=@"$SECRETS_DIR/nats-plugin-password" nats_ca_cert=@"$NATS_CA_FILE" nats_replicas="$NATS_REPLICAS" >/dev/null
	rm -f "$SECRETS_DIR/nats-plugin-password"
	for r in $RELAYS; do
		# shellcheck disable=SC2046 # the registration is two key=value words
		vault write "$MOUNT/config/relays/$r" $(cat "$REGISTRATIONS_DIR/$r.registration") >/dev/null
	done
	say "config written (nats_replicas=$NATS_REPLICAS); relays registered: $RELAYS"
}

policies() {
	if ! vault auth list -format=json | grep -q '"approle/"'; then vault auth enable approle >/dev/null; fi
	approle="approle_accessor=$(vault read -field=accessor sys/auth/approle)"
	accessor="mount_accessor=$(vault read -field=accessor "sys/mounts/$MOUNT")"
	vault read -field=policy "$MOUNT/agent-policy" "$approle" "$accessor" |
		vault policy write "$(vault read -field=name "$MOUNT/agent-policy" "$approle" "$accessor")" - >/dev/null
	vault read -field=policy "$MOUNT/admin-policy" "$accessor" strict=false | vault policy write mailgent-admin - >/dev/null
	vault read -field=policy "$MOUNT/admin-policy" "$accessor" strict=true | vault policy write mailgent-admin-strict - >/dev/null
}

init_cluster
unseal_all
mount_plugin
configure
policies
say "ready: $MOUNT/ on $VAULT_ADDRS"
