#!/usr/bin/env bash
# The whole Mailgent stack on loopback, in the foreground: nats-server
# (JetStream), a Vault dev server with the plugin registered by SHA-256 and
# mounted at mailgent/, a file audit device, a DNS server for sender
# authentication (mailgent-dns), the relay, and Mailpit as the local
# smarthost and mail UI. Ctrl-C or SIGTERM stops everything it started.
# Running it again, or after a crash, just works: stale processes of an
# earlier run are stopped first. Everything lives under .data/.
#
# With --cluster (make dev-cluster) it starts the production topology
# instead: 3 Vault nodes on integrated storage (Raft, retry_join),
# initialised and unsealed (one unseal key, in .data/secrets/), 3
# nats-servers clustered with routes and the mount's nats_replicas=3, and
# 2 relays given every NATS URL. Its Vault and NATS data start empty.
#
# Ports and names can be overridden from the environment:
#   VAULT_PORT (8200) NATS_PORT (4222) NATS_MONITOR_PORT (8222) RELAY_METRICS_PORT (9925)
#   SMTP_PORT (2525) MAILPIT_SMTP_PORT (1025) MAILPIT_UI_PORT (8025)
#   DNS_PORT (5354, UDP and TCP)
#   MAILGENT_DOMAIN (mailgent.test) MAILGENT_DEV_DATA (.data)
# and with --cluster, one comma-separated list per server kind:
#   VAULT_PORTS (8200,8210,8220) VAULT_CLUSTER_PORTS (8201,8211,8221)
#   NATS_PORTS (4222,4223,4224) NATS_MONITOR_PORTS (8222,8223,8224)
#   NATS_ROUTE_PORTS (6222,6223,6224) SMTP_PORTS (2525,2526)
#   RELAY_METRICS_PORTS (9925,9926)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/bin
# MAILGENT_DEV_DATA moves everything the stack writes (tests run it in a
# temporary directory); the default is .data/ in the repository.
DATA=${MAILGENT_DEV_DATA:-$ROOT/.data}
RUN=$DATA/run
LOGS=$DATA/logs

CLUSTER=false
MODE=dev
case ${1:-} in
--cluster) CLUSTER=true MODE=dev-cluster ;;
"") ;;
*) echo "usage: $0 [--cluster]" >&2; exit 2 ;;
esac

# One list of ports per server kind: one entry each for make dev, one per
# node for make dev-cluster.
if $CLUSTER; then
	VAULT_PORTS=${VAULT_PORTS:-8200,8210,8220}
	VAULT_CLUSTER_PORTS=${VAULT_CLUSTER_PORTS:-8201,8211,8221}
	NATS_PORTS=${NATS_PORTS:-4222,4223,4224}
	NATS_MONITOR_PORTS=${NATS_MONITOR_PORTS:-8222,8223,8224}
	NATS_ROUTE_PORTS=${NATS_ROUTE_PORTS:-6222,6223,6224}
	SMTP_PORTS=${SMTP_PORTS:-2525,2526}
	RELAY_METRICS_PORTS=${RELAY_METRICS_PORTS:-9925,9926}
else
	VAULT_PORTS=${VAULT_PORT:-8200}
	VAULT_CLUSTER_PORTS=
	NATS_PORTS=${NATS_PORT:-4222}
	NATS_MONITOR_PORTS=${NATS_MONITOR_PORT:-8222}
	NATS_ROUTE_PORTS=
	SMTP_PORTS=${SMTP_PORT:-2525}
	RELAY_METRICS_PORTS=${RELAY_METRICS_PORT:-9925}
fi
IFS=, read -r -a VAULT_P <<<"$VAULT_PORTS"
IFS=, read -r -a VAULT_CLUSTER_P <<<"$VAULT_CLUSTER_PORTS"
IFS=, read -r -a NATS_P <<<"$NATS_PORTS"
IFS=, read -r -a NATS_MONITOR_P <<<"$NATS_MONITOR_PORTS"
IFS=, read -r -a NATS_ROUTE_P <<<"$NATS_ROUTE_PORTS"
IFS=, read -r -a SMTP_P <<<"$SMTP_PORTS"
IFS=, read -r -a RELAY_METRICS_P <<<"$RELAY_METRICS_PORTS"
MAILPIT_SMTP_PORT=${MAILPIT_SMTP_PORT:-1025}
MAILPIT_UI_PORT=${MAILPIT_UI_PORT:-8025}
DNS_PORT=${DNS_PORT:-5354}
DOMAIN=${MAILGENT_DOMAIN:-mailgent.test}
MOUNT=mailgent
PLUGIN=vault-plugin-mailgent

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'dev-vault: %s\n' "$*" >&2; exit 1; }
secret() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }

mkdir -p "$RUN" "$LOGS" "$DATA/plugins" "$DATA/nats"
chmod 700 "$DATA"

# --- stale processes of an earlier run (crash, kill -9, closed terminal) ---
# stop_all: TERM to every process of the pid files at once (a Vault node
# takes seconds to shut down), KILL to what is left after 10 s.
stop_all() {
	local f pid pids=()
	for f in "$RUN"/*.pid; do
		pid=$(cat "$f" 2>/dev/null || true)
		# Only a process that is still ours: its executable lives under bin/ or .data/.
		if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null &&
			tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -e "$BIN/" -e "$DATA/"; then
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$pid")
		fi
		rm -f "$f"
	done
	for _ in $(seq 100); do
		for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && break; pid=; done
		[[ -z ${pid:-} ]] && break
		sleep 0.1
	done
	for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}
shopt -s nullglob
stop_all
# A Vault killed hard leaves its plugin process behind.
pkill -KILL -f "^$DATA/plugins/$PLUGIN" 2>/dev/null || true

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in VAULT_PORTS VAULT_CLUSTER_PORTS NATS_PORTS NATS_MONITOR_PORTS NATS_ROUTE_PORTS SMTP_PORTS RELAY_METRICS_PORTS MAILPIT_SMTP_PORT MAILPIT_UI_PORT DNS_PORT; do
	IFS=, read -r -a list <<<"${!p}"
	for port in "${list[@]}"; do
		if port_busy "$port"; then
			die "port $port ($p) is in use by another program; stop it or run with $p=<free port>"
		fi
	done
done
# A cluster's stores start empty: its unseal key is made fresh each run.
CLUSTER_DATA=$DATA/cluster
if $CLUSTER; then rm -rf "$CLUSTER_DATA"; mkdir -p "$CLUSTER_DATA"; fi

# --- build what is missing ---
say "building what is missing (the first Vault build takes about 5 minutes)"
make -s -C "$ROOT" tools build

# --- shutdown of everything started below ---
PIDS=()
cleanup() {
	trap - INT TERM EXIT
	say "stopping the stack"
	stop_all
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
	for _ in $(seq 600); do
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
NATS_URLS=()
# nats_conf I: the i-th server's configuration (0-based); in a cluster,
# routes to every other node.
nats_conf() {
	local i=$1 store=$DATA/nats routes=() j
	if $CLUSTER; then
		store=$CLUSTER_DATA/nats-n$((i + 1))
		for j in "${!NATS_ROUTE_P[@]}"; do
			[[ $j == "$i" ]] || routes+=("\"nats-route://127.0.0.1:${NATS_ROUTE_P[$j]}\"")
		done
	fi
	cat <<CONF
server_name: "n$((i + 1))"
listen: "127.0.0.1:${NATS_P[$i]}"
http: "127.0.0.1:${NATS_MONITOR_P[$i]}"
jetstream { store_dir: "$store" }
tls { cert_file: "$DATA/tls/server.pem", key_file: "$DATA/tls/server-key.pem", timeout: 2 }
include "mailgent-users.conf"
CONF
	if $CLUSTER; then
		local IFS=,
		# Routes over TLS too, each node's certificate checked against the CA.
		printf 'cluster {\n  name: "mailgent"\n  listen: "127.0.0.1:%s"\n  routes: [%s]\n  tls { cert_file: "%s", key_file: "%s", ca_file: "%s", timeout: 2 }\n}\n' \
			"${NATS_ROUTE_P[$i]}" "${routes[*]}" "$DATA/tls/server.pem" "$DATA/tls/server-key.pem" "$DATA/tls/ca.pem"
	fi
}
for i in "${!NATS_P[@]}"; do
	name=nats
	if $CLUSTER; then name=nats-$((i + 1)); fi
	nats_conf "$i" >"$DATA/$name.conf"
	chmod 600 "$DATA/$name.conf"
	say "starting $name on 127.0.0.1:${NATS_P[$i]} (TLS, JetStream)"
	MAILGENT_NATS_PLUGIN_PASSWORD=$NATS_PLUGIN_PASSWORD MAILGENT_NATS_RELAY_PASSWORD=$NATS_RELAY_PASSWORD \
		start "$name" "$LOGS/$name.log" "$BIN/nats-server" -c "$DATA/$name.conf"
	NATS_URLS+=("nats://127.0.0.1:${NATS_P[$i]}")
done
# /healthz answers once JetStream runs and, in a cluster, has its meta leader.
for i in "${!NATS_P[@]}"; do
	wait_for nats-server http_ok 127.0.0.1 "${NATS_MONITOR_P[$i]}" "/healthz"
done
NATS_URL=$(IFS=,; echo "${NATS_URLS[*]}")

# --- Vault: a dev server, or 3 nodes on Raft; the plugin directory holds
# a copy of the plugin ---
cp "$BIN/$PLUGIN" "$DATA/plugins/$PLUGIN.tmp" && mv "$DATA/plugins/$PLUGIN.tmp" "$DATA/plugins/$PLUGIN"
SHA=$(sha256sum "$DATA/plugins/$PLUGIN" | cut -d' ' -f1)
unset VAULT_NAMESPACE VAULT_CACERT VAULT_CLIENT_CERT VAULT_CLIENT_KEY VAULT_TOKEN
VAULT_ADDRS=()
for p in "${VAULT_P[@]}"; do VAULT_ADDRS+=("http://127.0.0.1:$p"); done
export VAULT_ADDR=${VAULT_ADDRS[0]}

start_vault_dev() {
	cat >"$DATA/vault.hcl" <<CONF
plugin_directory = "$DATA/plugins"
CONF
	export VAULT_TOKEN="root-$(secret)"
	say "starting Vault dev server on $VAULT_ADDR"
	# The root token by environment, not -dev-root-token-id: a command line is world-readable.
	VAULT_DEV_ROOT_TOKEN_ID=$VAULT_TOKEN start vault "$LOGS/vault.log" "$BIN/vault" server -dev \
		-dev-listen-address="127.0.0.1:${VAULT_P[0]}" \
		-dev-no-store-token \
		-config="$DATA/vault.hcl"
	wait_for Vault "$BIN/vault" status
}

# raft_conf I: the i-th node's configuration; retry_join names every node.
raft_conf() {
	local i=$1 p
	echo "storage \"raft\" {"
	echo "  path    = \"$CLUSTER_DATA/vault-n$((i + 1))\""
	echo "  node_id = \"vault-$((i + 1))\""
	for p in "${VAULT_P[@]}"; do echo "  retry_join { leader_api_addr = \"http://127.0.0.1:$p\" }"; done
	cat <<CONF
}
listener "tcp" {
  address         = "127.0.0.1:${VAULT_P[$i]}"
  cluster_address = "127.0.0.1:${VAULT_CLUSTER_P[$i]}"
  tls_disable     = true
}
api_addr         = "http://127.0.0.1:${VAULT_P[$i]}"
cluster_addr     = "https://127.0.0.1:${VAULT_CLUSTER_P[$i]}"
disable_mlock    = true
plugin_directory = "$DATA/plugins"
CONF
}

# vault_at ADDR ARGS...: the vault CLI against one node.
vault_at() { VAULT_ADDR=$1 "$BIN/vault" "${@:2}"; }
# answers ADDR: the node serves its API (sealed or not; exit status 1 is an error).
answers() { local rc=0; vault_at "$1" status >/dev/null 2>&1 || rc=$?; [[ $rc != 1 ]]; }
unsealed() { vault_at "$1" status >/dev/null 2>&1; }
# unseal ADDR: the key by file (@…), never on a command line; a node that
# has not joined yet refuses it, so it is retried.
unseal() { vault_at "$1" write sys/unseal key=@"$DATA/secrets/vault-unseal-key" >/dev/null 2>&1 || true; unsealed "$1"; }
voters() {
	[[ $("$BIN/vault" operator raft list-peers -format=json 2>/dev/null | grep -c '"voter": true') == "${#VAULT_P[@]}" ]]
}

start_vault_cluster() {
	local i key
	for i in "${!VAULT_P[@]}"; do
		mkdir -p "$CLUSTER_DATA/vault-n$((i + 1))"
		raft_conf "$i" >"$CLUSTER_DATA/vault-$((i + 1)).hcl"
		say "starting Vault node vault-$((i + 1)) on ${VAULT_ADDRS[$i]} (Raft)"
		start "vault-$((i + 1))" "$LOGS/vault-$((i + 1)).log" "$BIN/vault" server -config="$CLUSTER_DATA/vault-$((i + 1)).hcl"
	done
	for a in "${VAULT_ADDRS[@]}"; do wait_for "Vault $a" answers "$a"; done
	say "initialising the cluster (one unseal key, in .data/secrets/vault-unseal-key) and unsealing every node"
	# One key share: a dev cluster. The init response goes to a 0600 file,
	# is split into the unseal key and the root token, and is removed.
	(umask 077 && vault_at "${VAULT_ADDRS[0]}" operator init -key-shares=1 -key-threshold=1 -format=json |
		tr -d ' \n' >"$DATA/secrets/vault-init.json")
	key=$(sed -n 's/.*"unseal_keys_b64":\["\([^"]*\)".*/\1/p' "$DATA/secrets/vault-init.json")
	VAULT_TOKEN=$(sed -n 's/.*"root_token":"\([^"]*\)".*/\1/p' "$DATA/secrets/vault-init.json")
	rm -f "$DATA/secrets/vault-init.json"
	[[ -n $key && -n $VAULT_TOKEN ]] || die "vault operator init gave no unseal key or root token"
	(umask 077 && printf %s "$key" >"$DATA/secrets/vault-unseal-key")
	export VAULT_TOKEN
	for a in "${VAULT_ADDRS[@]}"; do wait_for "unsealing $a" unseal "$a"; done
	# Nodes join as non-voters; autopilot promotes them once stable (~10 s).
	# Until every node votes, losing the leader leaves no quorum.
	wait_for "three Raft voters" voters
}

if $CLUSTER; then start_vault_cluster; else start_vault_dev; fi

say "registering $PLUGIN in the catalog (sha256 $SHA) and mounting it at $MOUNT/"
"$BIN/vault" plugin register -sha256="$SHA" secret "$PLUGIN" >/dev/null
# Vault's audit log shows who and what in clear — never a secret (same list
# as internal/harness.AuditNonHMACResponseKeys).
NON_HMAC=()
for k in agent org address delegation_chain credential version current_version status outcome event_id valid_until seconds_remaining webhook events enabled; do
	NON_HMAC+=(-audit-non-hmac-response-keys="$k")
done
"$BIN/vault" secrets enable -path="$MOUNT" -description="Mailgent agent identities" "${NON_HMAC[@]}" "$PLUGIN" >/dev/null
: >"$DATA/vault-audit.log"
"$BIN/vault" audit enable file file_path="$DATA/vault-audit.log" >/dev/null
# The password by file (@…), not on the command line.
(umask 077 && printf %s "$NATS_PLUGIN_PASSWORD" >"$DATA/secrets/nats-plugin-password")
"$BIN/vault" write "$MOUNT/config" domain="$DOMAIN" \
	nats_url="$NATS_URL" nats_username="$NATS_PLUGIN_USER" nats_replicas="${#NATS_P[@]}" \
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

# --- the relays: each one's key (kept across runs) registered with the
# plugin, each given every NATS URL ---
SMTP_ADDRS=()
relay_greets() { local line; exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1; read -r line <&3; exec 3<&-; [[ $line == 220* ]]; }
for i in "${!SMTP_P[@]}"; do
	name=relay-$((i + 1))
	key=$DATA/relay.key
	[[ $i == 0 ]] || key=$DATA/$name.key
	# shellcheck disable=SC2046 # the registration is two key=value words
	"$BIN/vault" write "$MOUNT/config/relays/$name" $("$BIN/mailgent-relay" -print-registration -key-file "$key") >/dev/null
	say "starting mailgent-relay on 127.0.0.1:${SMTP_P[$i]} for @$DOMAIN (registered as $name)"
	MAILGENT_NATS_PASSWORD=$NATS_RELAY_PASSWORD start "$name" "$LOGS/$name.log" "$BIN/mailgent-relay" \
		-listen "127.0.0.1:${SMTP_P[$i]}" -domain "$DOMAIN" \
		-nats-url "$NATS_URL" -nats-user "$NATS_RELAY_USER" -nats-ca-file "$NATS_CA" \
		-key-file "$key" \
		-smarthost "127.0.0.1:$MAILPIT_SMTP_PORT" -smarthost-tls none \
		-resolver "127.0.0.1:$DNS_PORT" -metrics-listen "127.0.0.1:${RELAY_METRICS_P[$i]}"
	SMTP_ADDRS+=("127.0.0.1:${SMTP_P[$i]}")
done
for p in "${SMTP_P[@]}"; do wait_for mailgent-relay relay_greets "$p"; done

# --- .data/env: what a shell, a test or an agent needs ---
cat >"$DATA/env" <<ENV
# Written by scripts/dev-vault.sh at $(date -u +%Y-%m-%dT%H:%M:%SZ); valid while \`make $MODE\` runs.
export VAULT_ADDR=$VAULT_ADDR
export VAULT_ADDRS=$(IFS=,; echo "${VAULT_ADDRS[*]}")
export VAULT_TOKEN=$VAULT_TOKEN
export MAILGENT_MOUNT=$MOUNT
export MAILGENT_DOMAIN=$DOMAIN
export MAILGENT_SMTP_ADDR=${SMTP_ADDRS[0]}
export MAILGENT_SMTP_ADDRS=$(IFS=,; echo "${SMTP_ADDRS[*]}")
export MAILPIT_URL=http://127.0.0.1:$MAILPIT_UI_PORT
export MAILPIT_SMTP_ADDR=127.0.0.1:$MAILPIT_SMTP_PORT
export MAILGENT_DNS_ADDR=127.0.0.1:$DNS_PORT
export MAILGENT_RELAY_METRICS_URL=http://127.0.0.1:${RELAY_METRICS_P[0]}/metrics
export NATS_URL=$NATS_URL
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
$(if $CLUSTER; then echo "Unseal a node you restarted: VAULT_ADDR=<node> vault write sys/unseal key=@.data/secrets/vault-unseal-key"; fi)

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
for f in "$RUN"/*.pid; do
	name=$(basename "$f" .pid)
	pid=$(cat "$f" 2>/dev/null || true)
	if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
		echo "dev-vault: $name exited (status $status); see $LOGS/$name.log" >&2
	fi
done
cleanup 1
