# Mailgent administrator (standard), as `vault read mailgent/admin-policy
# mount_accessor=MOUNT_ACCESSOR` renders it (MOUNT_ACCESSOR is the Mailgent
# mount's accessor: vault read -field=accessor sys/mounts/mailgent). Enough for
# `mailgent onboard` once AppRole is enabled at auth/approle/ and the agent
# policy (mailgent-agents.hcl) is installed; it cannot escalate:
#  - it writes no ACL policy (it may read the agent policy to check it);
#  - it writes only AppRole roles named mailgent-MOUNT_ACCESSOR-<agent>, and
#    only with the parameters onboarding sends: token_policies can be the
#    agent policy and nothing else; policies, token_no_default_policy,
#    period, token_period, token_explicit_max_ttl, token_num_uses,
#    bind_secret_id, role_id and local_secret_ids are refused (on the role's
#    sub-paths too, which the same prefix matches);
#  - it may mint agents' secret IDs ("metadata" names the agent) and read
#    agents' passwords (break-glass, recorded in the agent's audit trail with
#    requester_is_agent=false). If yours must not, use mailgent-admin-strict.hcl.
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
    "metadata"              = []
  }
}
