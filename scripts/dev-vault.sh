#!/usr/bin/env bash
# The whole Mailgent stack on loopback, in the foreground: nats-server
# (JetStream), a Vault dev server with the plugin registered by SHA-256 and
# mounted at mailgent/, a file audit device, a DNS server for sender
# authentication (mailgent-dns), the relay, and Mailpit as the local
# smarthost and mail UI. Ctrl-C or SIGTERM stops everything it started.
# Running it again, or after a crash, just works: stale processes of an
# earlier run are stopped first. Everything lives under .data/.
#
# Ports and names can be overridden from the environment:
#   VAULT_PORT (8200) NATS_PORT (4222) NATS_MONITOR_PORT (8222) RELAY_METRICS_PORT (9925)
#   SMTP_PORT (2525) MAILPIT_SMTP_PORT (1025) MAILPIT_UI_PORT (8025)
#   DNS_PORT (5354, UDP and TCP)
#   MAILGENT_DOMAIN (mailgent.test) MAILGENT_DEV_DATA (.data)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/bin
# MAILGENT_DEV_DATA moves everything the stack writes (tests run it in a
# temporary directory); the default is .data/ in the repository.
DATA=${MAILGENT_DEV_DATA:-$ROOT/.data}
RUN=$DATA/run
LOGS=$DATA/logs

VAULT_PORT=${VAULT_PORT:-8200}
NATS_PORT=${NATS_PORT:-4222}
NATS_MONITOR_PORT=${NATS_MONITOR_PORT:-8222}
SMTP_PORT=${SMTP_PORT:-2525}
MAILPIT_SMTP_PORT=${MAILPIT_SMTP_PORT:-1025}
MAILPIT_UI_PORT=${MAILPIT_UI_PORT:-8025}
DNS_PORT=${DNS_PORT:-5354}
RELAY_METRICS_PORT=${RELAY_METRICS_PORT:-9925}
DOMAIN=${MAILGENT_DOMAIN:-mailgent.test}
MOUNT=mailgent
PLUGIN=vault-plugin-mailgent

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'dev-vault: %s\n' "$*" >&2; exit 1; }
secret() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }

mkdir -p "$RUN" "$LOGS" "$DATA/plugins" "$DATA/nats"
chmod 700 "$DATA"

# --- stale processes of an earlier run (crash, kill -9, closed terminal) ---
stop_pidfile() {
	local f=$1 pid
	pid=$(cat "$f" 2>/dev/null || true)
	# Only a process that is still ours: its executable lives under bin/ or .data/.
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null &&
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -e "$BIN/" -e "$DATA/"; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$f"
}
shopt -s nullglob
for f in "$RUN"/*.pid; do stop_pidfile "$f"; done
# A Vault killed hard leaves its plugin process behind.
pkill -KILL -f "^$DATA/plugins/$PLUGIN" 2>/dev/null || true

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in VAULT_PORT NATS_PORT NATS_MONITOR_PORT SMTP_PORT MAILPIT_SMTP_PORT MAILPIT_UI_PORT DNS_PORT RELAY_METRICS_PORT; do
	if port_busy "${!p}"; then
		die "port ${!p} ($p) is in use by another program; stop it or run with $p=<free port>"
	fi
done

# --- build what is missing ---
say "building what is missing (the first Vault build takes about 5 minutes)"
make -s -C "$ROOT" tools build

# --- shutdown of everything started below ---
PIDS=()
cleanup() {
	trap - INT TERM EXIT
	say "stopping the stack"
	for f in "$RUN"/*.pid; do stop_pidfile "$f"; done
	pkill -KILL -f "^$DATA/plugins/$PLUGIN" 2>/dev/null || true
	exit "${1:-0}"
}
trap 'cleanup 0' INT TERM
trap 'cleanup 1' EXIT

start() { # name logfile command...
	local name=$1 log=$2
	shift 2
	"$@" >"$log" 2>&1 &
	echo $! >"$RUN/$name.pid"
	PIDS+=($!)
}

# http_ok HOST PORT PATH: GET over bash's /dev/tcp (no curl needed), 200 or fail.
http_ok() {
	local status
	exec 3<>"/dev/tcp/$1/$2" || return 1
	printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$3" "$1" >&3
	read -r _ status _ <&3 || true
	exec 3<&-
	[[ $status == 200 ]]
}

wait_for() { # what command...
	local what=$1
	shift
	for _ in $(seq 300); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.2
	done
	die "$what did not come up; see $LOGS/"
}

# --- NATS with JetStream over TLS (a throwaway CA), and Mailgent's two
# users — the plugin's and the relays' — with their permissions
# (deploy/nats/mailgent-users.conf). Passwords are made now and reach
# nats-server by environment, never a command line. ---
NATS_PLUGIN_USER=mailgent-plugin
NATS_RELAY_USER=mailgent-relay
NATS_PLUGIN_PASSWORD=$(secret)
NATS_RELAY_PASSWORD=$(secret)
mkdir -p "$DATA/secrets" && chmod 700 "$DATA/secrets"
"$BIN/mailgent" dev-certs -dir "$DATA/tls" -hosts 127.0.0.1,localhost >/dev/null
NATS_CA=$DATA/tls/ca.pem
cp "$ROOT/deploy/nats/mailgent-users.conf" "$DATA/mailgent-users.conf"
cat >"$DATA/nats.conf" <<CONF
listen: "127.0.0.1:$NATS_PORT"
http: "127.0.0.1:$NATS_MONITOR_PORT"
jetstream { store_dir: "$DATA/nats" }
tls { cert_file: "$DATA/tls/server.pem", key_file: "$DATA/tls/server-key.pem", timeout: 2 }
include "mailgent-users.conf"
CONF
chmod 600 "$DATA/nats.conf"
say "starting nats-server on 127.0.0.1:$NATS_PORT (TLS, JetStream in .data/nats)"
MAILGENT_NATS_PLUGIN_PASSWORD=$NATS_PLUGIN_PASSWORD MAILGENT_NATS_RELAY_PASSWORD=$NATS_RELAY_PASSWORD \
	start nats "$LOGS/nats.log" "$BIN/nats-server" -c "$DATA/nats.conf"
wait_for nats-server http_ok 127.0.0.1 "$NATS_MONITOR_PORT" "/healthz?js-enabled-only=true"

# --- Vault dev server; the plugin directory holds a copy of the plugin ---
cp "$BIN/$PLUGIN" "$DATA/plugins/$PLUGIN.tmp" && mv "$DATA/plugins/$PLUGIN.tmp" "$DATA/plugins/$PLUGIN"
SHA=$(sha256sum "$DATA/plugins/$PLUGIN" | cut -d' ' -f1)
cat >"$DATA/vault.hcl" <<CONF
plugin_directory = "$DATA/plugins"
CONF
export VAULT_ADDR="http://127.0.0.1:$VAULT_PORT"
export VAULT_TOKEN="root-$(secret)"
unset VAULT_NAMESPACE VAULT_CACERT VAULT_CLIENT_CERT VAULT_CLIENT_KEY
say "starting Vault dev server on $VAULT_ADDR"
# The root token by environment, not -dev-root-token-id: a command line is world-readable.
VAULT_DEV_ROOT_TOKEN_ID=$VAULT_TOKEN start vault "$LOGS/vault.log" "$BIN/vault" server -dev \
	-dev-listen-address="127.0.0.1:$VAULT_PORT" \
	-dev-no-store-token \
	-config="$DATA/vault.hcl"
wait_for Vault "$BIN/vault" status

say "registering $PLUGIN in the catalog (sha256 $SHA) and mounting it at $MOUNT/"
"$BIN/vault" plugin register -sha256="$SHA" secret "$PLUGIN" >/dev/null
# Vault's audit log shows who and what in clear — never a secret (same list
# as internal/harness.AuditNonHMACResponseKeys).
NON_HMAC=()
for k in agent org address delegation_chain credential version current_version status outcome event_id valid_until seconds_remaining; do
	NON_HMAC+=(-audit-non-hmac-response-keys="$k")
done
"$BIN/vault" secrets enable -path="$MOUNT" -description="Mailgent agent identities" "${NON_HMAC[@]}" "$PLUGIN" >/dev/null
: >"$DATA/vault-audit.log"
"$BIN/vault" audit enable file file_path="$DATA/vault-audit.log" >/dev/null
# The password by file (@…), not on the command line.
(umask 077 && printf %s "$NATS_PLUGIN_PASSWORD" >"$DATA/secrets/nats-plugin-password")
"$BIN/vault" write "$MOUNT/config" domain="$DOMAIN" \
	nats_url="nats://127.0.0.1:$NATS_PORT" nats_username="$NATS_PLUGIN_USER" \
	nats_password=@"$DATA/secrets/nats-plugin-password" nats_ca_cert=@"$NATS_CA" >/dev/null
rm -f "$DATA/secrets/nats-plugin-password"

# --- least privilege: AppRole, the templated agent policy, the admin policies ---
# The operator's one-time steps (docs/api.md, "Security model"): agents log in
# with AppRole and share one templated policy; admins get policies that cannot
# escalate (standard, and strict: no password reads, no secret IDs).
"$BIN/vault" auth enable approle >/dev/null
ACCESSORS=(approle_accessor="$("$BIN/vault" read -field=accessor sys/auth/approle)"
	mount_accessor="$("$BIN/vault" read -field=accessor "sys/mounts/$MOUNT")")
AGENT_POLICY=$("$BIN/vault" read -field=name "$MOUNT/agent-policy" "${ACCESSORS[@]}")
"$BIN/vault" read -field=policy "$MOUNT/agent-policy" "${ACCESSORS[@]}" |
	"$BIN/vault" policy write "$AGENT_POLICY" - >/dev/null
for strict in false true; do
	"$BIN/vault" read -field=policy "$MOUNT/admin-policy" "${ACCESSORS[1]}" strict=$strict |
		"$BIN/vault" policy write "mailgent-admin$([[ $strict == true ]] && echo -strict)" - >/dev/null
done
say "installed policies $AGENT_POLICY (agents), mailgent-admin and mailgent-admin-strict"
# --- end of the least-privilege block ---

# --- Mailpit: the local smarthost and mail UI ---
say "starting Mailpit (SMTP 127.0.0.1:$MAILPIT_SMTP_PORT, UI http://127.0.0.1:$MAILPIT_UI_PORT)"
start mailpit "$LOGS/mailpit.log" "$BIN/mailpit" \
	--listen "127.0.0.1:$MAILPIT_UI_PORT" --smtp "127.0.0.1:$MAILPIT_SMTP_PORT" \
	--database "$DATA/mailpit.db" --disable-version-check \
	--smtp-auth-accept-any --smtp-auth-allow-insecure
wait_for Mailpit http_ok 127.0.0.1 "$MAILPIT_UI_PORT" /readyz

# --- DNS for the relay's DKIM/SPF/DMARC checks: names under .test and
# .localhost are senders that authorise loopback; the rest is forwarded ---
say "starting mailgent-dns on 127.0.0.1:$DNS_PORT (.test and .localhost senders; other names to the system resolver)"
start dns "$LOGS/dns.log" "$BIN/mailgent-dns" -listen "127.0.0.1:$DNS_PORT" -forward system -log-level debug
wait_for mailgent-dns port_busy "$DNS_PORT"

# --- the relay: its key (kept across runs) registered with the plugin ---
RELAY_KEY=$DATA/relay.key
# shellcheck disable=SC2046 # the registration is two key=value words
"$BIN/vault" write "$MOUNT/config/relays/relay-1" $("$BIN/mailgent-relay" -print-registration -key-file "$RELAY_KEY") >/dev/null
say "starting mailgent-relay on 127.0.0.1:$SMTP_PORT for @$DOMAIN (registered as relay-1)"
MAILGENT_NATS_PASSWORD=$NATS_RELAY_PASSWORD start relay "$LOGS/relay.log" "$BIN/mailgent-relay" \
	-listen "127.0.0.1:$SMTP_PORT" -domain "$DOMAIN" \
	-nats-url "nats://127.0.0.1:$NATS_PORT" -nats-user "$NATS_RELAY_USER" -nats-ca-file "$NATS_CA" \
	-key-file "$RELAY_KEY" \
	-smarthost "127.0.0.1:$MAILPIT_SMTP_PORT" -smarthost-tls none \
	-resolver "127.0.0.1:$DNS_PORT" -metrics-listen "127.0.0.1:$RELAY_METRICS_PORT"
relay_greets() { local line; exec 3<>"/dev/tcp/127.0.0.1/$SMTP_PORT" || return 1; read -r line <&3; exec 3<&-; [[ $line == 220* ]]; }
wait_for mailgent-relay relay_greets

# --- .data/env: what a shell, a test or an agent needs ---
cat >"$DATA/env" <<ENV
# Written by scripts/dev-vault.sh at $(date -u +%Y-%m-%dT%H:%M:%SZ); valid while \`make dev\` runs.
export VAULT_ADDR=$VAULT_ADDR
export VAULT_TOKEN=$VAULT_TOKEN
export MAILGENT_MOUNT=$MOUNT
export MAILGENT_DOMAIN=$DOMAIN
export MAILGENT_SMTP_ADDR=127.0.0.1:$SMTP_PORT
export MAILPIT_URL=http://127.0.0.1:$MAILPIT_UI_PORT
export MAILPIT_SMTP_ADDR=127.0.0.1:$MAILPIT_SMTP_PORT
export MAILGENT_DNS_ADDR=127.0.0.1:$DNS_PORT
export MAILGENT_RELAY_METRICS_URL=http://127.0.0.1:$RELAY_METRICS_PORT/metrics
export NATS_URL=nats://127.0.0.1:$NATS_PORT
# The relays' NATS user (for a second relay); the plugin's password lives in Vault only.
export MAILGENT_NATS_USER=$NATS_RELAY_USER
export MAILGENT_NATS_PASSWORD=$NATS_RELAY_PASSWORD
export MAILGENT_NATS_CA_FILE=$NATS_CA
export PATH="$BIN:\$PATH"
ENV
chmod 600 "$DATA/env"

cat <<MSG

Mailgent is up. Everything below is in .data/env:

$(grep '^export' "$DATA/env" | sed 's/^export /  /; /PASSWORD/d; /^  PATH/d')

Logs: .data/logs/   Vault audit log: .data/vault-audit.log

Try this, in another terminal:
  source .data/env
  vault read $MOUNT/config
  vault plugin info secret $PLUGIN
  vault audit list
  open \$MAILPIT_URL to see outbound mail

Ctrl-C stops the stack.
MSG

# Foreground until a signal, or until one of the servers dies.
set +e
wait -n "${PIDS[@]}"
status=$?
set -e
for name in nats vault mailpit dns relay; do
	pid=$(cat "$RUN/$name.pid" 2>/dev/null || true)
	if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
		echo "dev-vault: $name exited (status $status); see $LOGS/$name.log" >&2
	fi
done
cleanup 1
