# Mailgent on an existing Vault with the hashicorp/vault provider: the plugin
# in the catalog, the mount, its config, AppRole, the mount's templated agent
# policy and the admin policy (installed by the operator, from
# examples/policies), one org, one agent with a credential, the agent's
# AppRole role pinned to the agent policy, and a secret ID that names it.
# Only vault_generic_endpoint, vault_mount, vault_policy and
# vault_auth_backend resources, with the arguments provider v1.9.0 already
# had, so it works with v1.9.0 and today's provider alike
# (vault_approle_auth_backend_role crashes against Vault 1.21 with v1.9.0;
# vault_mount's audit_non_hmac_response_keys came later).
# Paths and fields: docs/api.md. Applied, planned and destroyed by OpenTofu
# in `make test` (integration/terraform_test.go).

terraform {
  required_providers {
    vault = {
      source  = "hashicorp/vault"
      version = ">= 1.9.0"
    }
  }
}

# VAULT_ADDR and VAULT_TOKEN come from the environment: the operator's token
# (catalog, mounts, auth methods and ACL policies). After the first apply,
# day-to-day agents need only examples/policies/mailgent-admin.hcl
# (mailgent onboard).
provider "vault" {}

# The plugin in the catalog, by SHA-256 (sys/plugins/catalog).
resource "vault_generic_endpoint" "plugin" {
  path                 = "sys/plugins/catalog/secret/vault-plugin-mailgent"
  ignore_absent_fields = true
  disable_read         = true

  data_json = jsonencode({
    command = var.plugin_command
    sha256  = var.plugin_sha256
  })
}

resource "vault_mount" "mailgent" {
  depends_on  = [vault_generic_endpoint.plugin]
  path        = var.mount_path
  type        = "vault-plugin-mailgent"
  description = "Mailgent agent identities"
}

# Same list as scripts/dev-vault.sh and internal/harness: who and what in
# clear in Vault's audit devices; passwords, codes and fields stay HMAC'd.
# (A tune of the mount: vault_mount's own argument for it is newer than
# provider v1.9.0.) The mount's deletion takes the tune with it.
resource "vault_generic_endpoint" "mount_tune" {
  path                 = "sys/mounts/${vault_mount.mailgent.path}/tune"
  ignore_absent_fields = true
  disable_delete       = true

  data_json = jsonencode({
    audit_non_hmac_response_keys = [
      "agent", "org", "address", "delegation_chain", "credential", "version",
      "current_version", "status", "outcome", "event_id", "valid_until", "seconds_remaining",
      "webhook", "events", "enabled",
    ]
  })
}

# config: read works, but nats_password is write-only (reads show
# nats_password_set), so absent fields are not drift. There is no DELETE on
# config: destroying this resource leaves it (the mount goes with vault_mount).
resource "vault_generic_endpoint" "config" {
  path                 = "${vault_mount.mailgent.path}/config"
  ignore_absent_fields = true
  disable_delete       = true

  data_json = jsonencode({
    domain        = var.domain
    nats_url      = var.nats_url
    nats_username = var.nats_username
    nats_password = var.nats_password
    nats_ca_cert  = var.nats_ca_cert
  })
}

# The relay, registered by its public keys (mailgent-relay
# -print-registration): the plugin stores only mail its signed sessions
# sealed, and seals outbound mail to it.
resource "vault_generic_endpoint" "relay" {
  path                 = "${vault_mount.mailgent.path}/config/relays/${var.relay_name}"
  ignore_absent_fields = true

  data_json = jsonencode({
    signing_key = var.relay_signing_key
    sealing_key = var.relay_sealing_key
  })

  depends_on = [vault_generic_endpoint.config]
}

# Deleting an org revokes all its agents.
resource "vault_generic_endpoint" "org" {
  depends_on           = [vault_generic_endpoint.config]
  path                 = "${vault_mount.mailgent.path}/orgs/${var.org}"
  ignore_absent_fields = true

  data_json = jsonencode({
    description = "Managed by Terraform"
  })
}

# Creating an agent answers 200 with the agent; write_fields keeps its address
# (an update answers 204, with nothing to keep).
# Destroying it revokes the agent for good: its key is destroyed and the name
# can never be used again. org is fixed at creation.
resource "vault_generic_endpoint" "agent" {
  depends_on           = [vault_generic_endpoint.org]
  path                 = "${vault_mount.mailgent.path}/agents/${var.agent}"
  ignore_absent_fields = true
  write_fields         = ["address"]

  data_json = jsonencode({
    org            = var.org
    description    = "Managed by Terraform"
    send_allowlist = []
  })
}

# The credential read returns username, password and url but never
# totp_secret: with ignore_absent_fields the write-only seed is not drift.
# Every write is a new version (the seed is kept when it is not sent); each
# refresh is a cred.read event in the agent's audit trail. Set
# disable_read = true if you want neither drift detection nor those events.
resource "vault_generic_endpoint" "credential" {
  path                 = "${vault_mount.mailgent.path}/agents/${var.agent}/creds/${var.credential}"
  ignore_absent_fields = true
  write_fields         = ["version", "totp_enabled"]

  data_json = jsonencode({
    username    = var.credential_username
    password    = var.credential_password
    url         = var.credential_url
    totp_secret = var.credential_totp_secret
  })

  depends_on = [vault_generic_endpoint.agent]
}

resource "vault_auth_backend" "approle" {
  type = "approle"
  path = "approle"
}

# The mount's one templated agent policy and the admin policies: the files
# in examples/policies, as the plugin renders them (agent-policy,
# admin-policy; plugin/path_policies_test.go keeps them equal), with the two
# accessors filled in. They are written for the mount path "mailgent".
# mailgent onboard compares the installed agent policy with the plugin's
# rendering rule by rule and never overwrites it.
# The mount's accessor, read from sys/mounts/<path>: provider v1.9.0's
# vault_mount reads its mounts in a form Vault 1.21 no longer answers, so
# its own accessor attribute stays empty there.
data "vault_generic_secret" "mount" {
  path       = "sys/mounts/${vault_mount.mailgent.path}"
  depends_on = [vault_mount.mailgent]
}

locals {
  mount_accessor = data.vault_generic_secret.mount.data["accessor"]
  accessors = {
    MOUNT_ACCESSOR   = local.mount_accessor
    APPROLE_ACCESSOR = vault_auth_backend.approle.accessor
  }
  fill = { for f in ["mailgent-agents", "mailgent-admin", "mailgent-admin-strict"] : f => replace(replace(
    file("${path.module}/../policies/${f}.hcl"),
    "MOUNT_ACCESSOR", local.accessors.MOUNT_ACCESSOR),
    "APPROLE_ACCESSOR", local.accessors.APPROLE_ACCESSOR)
  }
  agents_policy = "mailgent-${local.mount_accessor}-agents"
  role_name     = "mailgent-${local.mount_accessor}-${var.agent}"
}

resource "vault_policy" "agents" {
  name   = local.agents_policy
  policy = local.fill["mailgent-agents"]
}

resource "vault_policy" "admin" {
  name   = "mailgent-admin"
  policy = local.fill["mailgent-admin"]
}

resource "vault_policy" "admin_strict" {
  name   = "mailgent-admin-strict"
  policy = local.fill["mailgent-admin-strict"]
}

# The agent's role, as mailgent onboard writes it: only the parameters the
# admin policy allows, token_policies pinned to the agent policy.
resource "vault_generic_endpoint" "role" {
  depends_on           = [vault_generic_endpoint.agent]
  path                 = "auth/${trimsuffix(vault_auth_backend.approle.path, "/")}/role/${local.role_name}"
  ignore_absent_fields = true

  data_json = jsonencode({
    token_policies     = [vault_policy.agents.name]
    token_type         = "service"
    token_ttl          = 3600
    token_max_ttl      = 86400
    secret_id_ttl      = var.secret_id_ttl
    secret_id_num_uses = var.secret_id_num_uses
  })
}

# The role ID: a read (role-id's write would set a chosen one).
data "vault_generic_secret" "role_id" {
  path       = "auth/${trimsuffix(vault_auth_backend.approle.path, "/")}/role/${local.role_name}/role-id"
  depends_on = [vault_generic_endpoint.role]
}

# A secret ID whose metadata names the agent: AppRole copies it into the
# login's identity, where the agent policy's templates read it. Not
# wrapped (vault_generic_endpoint cannot ask for response wrapping), so the
# secret ID is in the state in clear: prefer `mailgent onboard`, which hands
# out a wrapped one. Nothing to delete: a secret ID expires.
resource "vault_generic_endpoint" "secret_id" {
  path           = "auth/${trimsuffix(vault_auth_backend.approle.path, "/")}/role/${local.role_name}/secret-id"
  disable_read   = true
  disable_delete = true
  write_fields   = ["secret_id", "secret_id_accessor"]

  data_json = jsonencode({
    metadata = jsonencode({ mailgent_agent = var.agent })
  })

  depends_on = [vault_generic_endpoint.role]
}
