# Mailgent on an existing Vault with the hashicorp/vault provider: the plugin
# in the catalog, the mount, its config, one org, one agent with a
# credential, the agent's ACL policy and an AppRole role bound to it.
# Paths and fields: docs/api.md. Not exercised in this repository (see README.md).

terraform {
  required_providers {
    vault = {
      source  = "hashicorp/vault"
      version = ">= 4.0"
    }
  }
}

# VAULT_ADDR and VAULT_TOKEN come from the environment
# (a token with the rights of examples/policies/mailgent-admin.hcl, plus the
# catalog, mount and auth-method rights to create what is below).
provider "vault" {}

resource "vault_plugin" "mailgent" {
  type    = "secret"
  name    = "vault-plugin-mailgent"
  command = var.plugin_command
  sha256  = var.plugin_sha256
}

resource "vault_mount" "mailgent" {
  path        = var.mount_path
  type        = vault_plugin.mailgent.name
  description = "Mailgent agent identities"

  # Same list as scripts/dev-vault.sh and internal/harness: who and what in
  # clear in Vault's audit devices; passwords, codes and fields stay HMAC'd.
  audit_non_hmac_response_keys = [
    "agent", "org", "address", "delegation_chain", "credential", "version",
    "current_version", "status", "outcome", "event_id", "valid_until", "seconds_remaining",
  ]
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
  })
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

# The plugin renders the agent's policy ({agent, name, policy}); it does not
# write it to Vault. Read after the agent exists.
data "vault_generic_secret" "agent_policy" {
  path       = "${vault_mount.mailgent.path}/agents/${var.agent}/policy"
  depends_on = [vault_generic_endpoint.agent]
}

# The provider marks the data source's data sensitive; a policy name and its
# HCL are not secrets.
resource "vault_policy" "agent" {
  name   = nonsensitive(data.vault_generic_secret.agent_policy.data["name"])
  policy = nonsensitive(data.vault_generic_secret.agent_policy.data["policy"])
}

resource "vault_auth_backend" "approle" {
  type = "approle"
  path = "approle"
}

# The same role mailgent onboard writes: named like the policy, service tokens.
resource "vault_approle_auth_backend_role" "agent" {
  backend        = vault_auth_backend.approle.path
  role_name      = vault_policy.agent.name
  token_policies = [vault_policy.agent.name]
  token_type     = "service"
}

# A response-wrapped secret ID for the agent to unwrap once
# (MAILGENT_WRAPPED_SECRET_ID for examples/python/signup_agent.py).
resource "vault_approle_auth_backend_role_secret_id" "agent" {
  backend               = vault_auth_backend.approle.path
  role_name             = vault_approle_auth_backend_role.agent.role_name
  wrapping_ttl          = "10m"
  with_wrapped_accessor = true
}
