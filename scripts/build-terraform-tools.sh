#!/usr/bin/env bash
# OpenTofu and terraform-provider-vault, built from the Go module proxy into
# bin/ (neither can be downloaded as a release here), with the provider laid
# out as a filesystem mirror that a CLI config file (TF_CLI_CONFIG_FILE)
# names, so `tofu init` installs it offline. Called by `make tools`; each is
# rebuilt only when its version changes (stamps in bin/.pinned).
#
#   OpenTofu: `go install` refuses its module's replace directive, so it is
#   built in a copy of the module directory.
#   terraform-provider-vault: the proxy serves v1.9.0 only; requiring
#   github.com/hashicorp/terraform v0.12.29 makes it build, speaking plugin
#   protocol 5, which OpenTofu still speaks.
set -euo pipefail

TOFU_VERSION=$1
PROVIDER_VERSION=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/bin
WORK=$(mktemp -d)
trap 'chmod -R u+w "$WORK"; rm -rf "$WORK"' EXIT

module_dir() { # module@version → a writable copy of its source
	local dir
	dir=$(cd "$WORK" && GOFLAGS=-mod=mod go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -n $dir ]] || { echo "go mod download $1 failed" >&2; exit 1; }
	cp -r "$dir" "$WORK/src-${1//[\/@]/_}"
	chmod -R u+w "$WORK/src-${1//[\/@]/_}"
	echo "$WORK/src-${1//[\/@]/_}"
}

if [[ ! -f $BIN/.pinned/tofu@$TOFU_VERSION || ! -x $BIN/tofu ]]; then
	echo "building OpenTofu v$TOFU_VERSION from source (a few minutes, once)"
	src=$(module_dir "github.com/opentofu/opentofu@v$TOFU_VERSION")
	(cd "$src" && go build -trimpath -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" -o "$BIN/tofu" ./cmd/tofu)
	rm -f "$BIN"/.pinned/tofu@*; mkdir -p "$BIN/.pinned"; touch "$BIN/.pinned/tofu@$TOFU_VERSION"
fi

mirror=$BIN/terraform-mirror
if [[ ! -f $BIN/.pinned/terraform-provider-vault@$PROVIDER_VERSION ]]; then
	echo "building terraform-provider-vault v$PROVIDER_VERSION from source (once)"
	src=$(module_dir "github.com/hashicorp/terraform-provider-vault@v$PROVIDER_VERSION")
	(cd "$src" && go mod edit -require=github.com/hashicorp/terraform@v0.12.29 &&
		go build -mod=mod -trimpath -ldflags '-s -w' -o "$WORK/terraform-provider-vault_v$PROVIDER_VERSION" .)
	rm -rf "$mirror"
	# The same provider under both registries' names: a configuration's
	# hashicorp/vault means registry.opentofu.org to OpenTofu.
	for registry in registry.terraform.io registry.opentofu.org; do
		dir=$mirror/$registry/hashicorp/vault/$PROVIDER_VERSION/linux_amd64
		mkdir -p "$dir"
		cp "$WORK/terraform-provider-vault_v$PROVIDER_VERSION" "$dir/"
	done
	rm -f "$BIN"/.pinned/terraform-provider-vault@*; touch "$BIN/.pinned/terraform-provider-vault@$PROVIDER_VERSION"
fi
