# Mailgent administrator (strict), as `vault read mailgent/admin-policy
# mount_accessor=MOUNT_ACCESSOR strict=true` renders it: the standard policy (mailgent-admin.hcl) less
#  - credential reads and writes (agents/+/creds/+ deny: no password comes
#    back); TOTP codes, credential listing, inbox, audit, orgs and agents stay;
#  - minting secret IDs that name an agent ("metadata" is not allowed), so an
#    admin cannot log in as an agent. Onboard with -no-secret-id; whoever
#    issues secret IDs (e.g. a deployment pipeline holding the standard
#    policy) mints them. Vault's ACL cannot keep the role prefix from matching
#    .../secret-id, so this policy can still mint a secret ID *without*
#    metadata: its login resolves no path of the agent policy (tested in
#    integration/escalation_test.go).
path "mailgent/config" { capabilities = ["read"] }
path "mailgent/orgs" { capabilities = ["list"] }
path "mailgent/orgs/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "mailgent/agents" { capabilities = ["list"] }
path "mailgent/agents/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "mailgent/agent-policy" { capabilities = ["read"] }
# To find the AppRole and Mailgent mounts' accessors, and to check the agent policy is installed.
path "sys/auth" { capabilities = ["read"] }
path "sys/mounts/mailgent" { capabilities = ["read"] }
path "sys/policies/acl/mailgent-MOUNT_ACCESSOR-agents" { capabilities = ["read"] }
path "auth/approle/role/mailgent-MOUNT_ACCESSOR-*" {
  capabilities = ["create", "read", "update", "delete"]
  allowed_parameters = {
    "token_policies"        = ["mailgent-MOUNT_ACCESSOR-agents"]
    "token_type"            = ["service"]
    "token_ttl"             = []
    "token_max_ttl"         = []
    "secret_id_ttl"         = []
    "secret_id_num_uses"    = []
    "secret_id_bound_cidrs" = []
    "token_bound_cidrs"     = []
  }
}
# Strict: no password (or any credential field) reads or writes, no backup codes; TOTP codes,
# credential listing, inbox, audit and agent management stay allowed.
path "mailgent/agents/+/creds/+" { capabilities = ["deny"] }
path "mailgent/agents/+/creds/+/backup-code" { capabilities = ["deny"] }
path "mailgent/agents/+/creds/" { capabilities = ["list"] }
