# Mailgent — the two commands are `make dev` and `make test`; see README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := build

BIN := $(CURDIR)/bin
GO ?= go
# Empty for development builds (the plugin then registers unversioned); set
# VERSION=v1.2.3 for a release, and register it with -version=v1.2.3.
VERSION ?=
LDFLAGS := -s -w $(if $(VERSION),-X github.com/mailgent/mailgent/internal/version.Version=$(VERSION))

# The pinned servers, read from tools/go.mod so there is one source of truth.
tool_version = $(shell awk '$$1 == "$(1)" { print $$2 }' tools/go.mod)
VAULT_VERSION   := $(call tool_version,github.com/hashicorp/vault)
NATS_VERSION    := $(call tool_version,github.com/nats-io/nats-server/v2)
MAILPIT_VERSION := $(call tool_version,github.com/axllent/mailpit)
# Built from source by scripts/build-terraform-tools.sh (no release can be
# downloaded here): the example in examples/terraform is applied in make test.
TOFU_VERSION           := 1.10.10
VAULT_PROVIDER_VERSION := 1.9.0

# A stamp without its binary (someone deleted bin/vault) is no stamp.
$(foreach t,vault nats-server mailpit tofu,$(if $(wildcard $(BIN)/$(t)),,$(shell rm -f $(BIN)/.pinned/$(t)@*)))
$(if $(wildcard $(BIN)/terraform-mirror),,$(shell rm -f $(BIN)/.pinned/terraform-provider-vault@*))

.PHONY: build tools dev dev-cluster demo test test-deps test-unit bench fmt vet clean onboard

## build: the plugin, the relay, the CLI, the MCP server and the dev DNS server into bin/ (static: they also run in the Alpine-based images of docker-compose.yml)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/vault-plugin-mailgent ./cmd/vault-plugin-mailgent
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/mailgent-relay ./cmd/mailgent-relay
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/mailgent ./cmd/mailgent
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/mailgent-mcp ./cmd/mailgent-mcp
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/mailgent-dns ./cmd/mailgent-dns

## tools: the pinned real servers (and OpenTofu with the Vault provider) into bin/, rebuilt only when a version changes
tools: $(BIN)/.pinned/vault@$(VAULT_VERSION) $(BIN)/.pinned/nats-server@$(NATS_VERSION) $(BIN)/.pinned/mailpit@$(MAILPIT_VERSION) \
	$(BIN)/.pinned/tofu@$(TOFU_VERSION) $(BIN)/.pinned/terraform-provider-vault@$(VAULT_PROVIDER_VERSION)

$(BIN)/.pinned/tofu@% $(BIN)/.pinned/terraform-provider-vault@%:
	./scripts/build-terraform-tools.sh $(TOFU_VERSION) $(VAULT_PROVIDER_VERSION)

# A stamp per tool and version: changing a version in tools/go.mod rebuilds that tool.
$(BIN)/.pinned/vault@%:
	@echo "building Vault $* (about 5 minutes on 2 cores, once)"
	cd tools && $(GO) build -trimpath -ldflags '-s -w' -o $(BIN)/vault github.com/hashicorp/vault
	@rm -f $(BIN)/.pinned/vault@*; mkdir -p $(@D); touch $@
$(BIN)/.pinned/nats-server@%:
	cd tools && $(GO) build -trimpath -ldflags '-s -w' -o $(BIN)/nats-server github.com/nats-io/nats-server/v2
	@rm -f $(BIN)/.pinned/nats-server@*; mkdir -p $(@D); touch $@
$(BIN)/.pinned/mailpit@%:
	cd tools && $(GO) build -trimpath -ldflags '-s -w' -o $(BIN)/mailpit github.com/axllent/mailpit
	@rm -f $(BIN)/.pinned/mailpit@*; mkdir -p $(@D); touch $@

## dev: the whole stack in the foreground (Ctrl-C stops it); writes .data/env
dev: tools build
	./scripts/dev-vault.sh

## dev-cluster: the production topology on loopback (3 Vault nodes on Raft, 3 nats-servers with nats_replicas=3, 2 relays, Mailpit) in the foreground; writes .data/env
dev-cluster: tools build
	./scripts/dev-vault.sh --cluster

## onboard: give an agent its identity against `make dev` (ORG=acme AGENT=billing-bot)
onboard: build
	@test -f .data/env || { echo "run make dev first (in another terminal)"; exit 1; }
	@test -n "$(ORG)" -a -n "$(AGENT)" || { echo "usage: make onboard ORG=acme AGENT=billing-bot"; exit 1; }
	@. .data/env && $(BIN)/mailgent onboard -create-org -org '$(ORG)' -agent '$(AGENT)'

## demo: the autonomous sign-up story against `make dev` (run that first, in another terminal)
demo:
	@test -f .data/env || { echo "run make dev first (in another terminal)"; exit 1; }
	@. .data/env && $(GO) run ./examples/signup/demo

## test-deps: what the tests drive besides Go, from Debian's packages when missing: swaks (a real SMTP client), python3 >= 3.11 (the Python SDK), Node >= 20 and npm (the TypeScript SDK)
test-deps:
	@missing=""; \
	command -v swaks >/dev/null || missing="$$missing swaks"; \
	test -x /usr/bin/python3 || missing="$$missing python3"; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then echo "installing$$missing (apt-get)"; apt-get update -qq && apt-get install -y -qq $$missing; fi
	@/usr/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "the Python SDK needs /usr/bin/python3 >= 3.11"; exit 1; }
	@node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || { echo "the TypeScript SDK needs Node >= 20, found $$(node --version)"; exit 1; }

## test: vet, unit and integration tests against the real servers
test: tools test-deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	cd third_party/enmime && $(GO) test -count=1 .

## test-unit: only the tests that start no server
test-unit:
	$(GO) test -count=1 -short ./plugin/... ./relay/...

## bench: benchmarks against the real servers (see docs/benchmarks.md)
# -p 1: one package at a time, so no benchmark shares the cores with another's.
bench: tools
	$(GO) test -p 1 -run '^$$' -bench . -benchmem -timeout 60m ./...

fmt:
	gofmt -s -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...

clean:
	rm -rf $(BIN)/vault-plugin-mailgent $(BIN)/mailgent-relay $(BIN)/mailgent $(BIN)/mailgent-dns .data/test-bin .data/test-logs
