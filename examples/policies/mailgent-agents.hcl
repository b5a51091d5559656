# The mount's one templated agent policy, as `vault read mailgent/agent-policy`
# renders it. Written once by the Vault operator — never by an admin:
#
#   args="approle_accessor=$(vault read -field=accessor sys/auth/approle) mount_accessor=$(vault read -field=accessor sys/mounts/mailgent)"
#   name=$(vault read -field=name mailgent/agent-policy $args)
#   vault read -field=policy mailgent/agent-policy $args | vault policy write $name -
#
# MOUNT_ACCESSOR is the Mailgent mount's accessor (sys/mounts/mailgent),
# APPROLE_ACCESSOR the AppRole mount's (sys/auth/approle). Every path names the agent through the template: AppRole copies a
# secret ID's metadata into the login's entity alias, and `mailgent onboard`
# mints each agent's secret ID with metadata mailgent_agent=<agent>. A token
# whose alias lacks it resolves no path here (Vault drops the path).
path "mailgent/agents/{{identity.entity.aliases.APPROLE_ACCESSOR.metadata.mailgent_agent}}" { capabilities = ["read"] }
path "mailgent/agents/{{identity.entity.aliases.APPROLE_ACCESSOR.metadata.mailgent_agent}}/creds" { capabilities = ["list"] }
path "mailgent/agents/{{identity.entity.aliases.APPROLE_ACCESSOR.metadata.mailgent_agent}}/creds/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "mailgent/agents/{{identity.entity.aliases.APPROLE_ACCESSOR.metadata.mailgent_agent}}/creds/+/totp" { capabilities = ["read"] }
path "mailgent/agents/{{identity.entity.aliases.APPROLE_ACCESSOR.metadata.mailgent_agent}}/creds/+/login" { capabilities = ["create", "update"] }
path "mailgent/agents/{{identity.entity.aliases.APPROLE_ACCESSOR.metadata.mailgent_agent}}/creds/+/backup-code" { capabilities = ["create", "update"] }
path "mailgent/agents/{{identity.entity.aliases.APPROLE_ACCESSOR.metadata.mailgent_agent}}/messages" { capabilities = ["read", "list"] }
path "mailgent/agents/{{identity.entity.aliases.APPROLE_ACCESSOR.metadata.mailgent_agent}}/messages/*" { capabilities = ["read", "list", "delete"] }
path "mailgent/agents/{{identity.entity.aliases.APPROLE_ACCESSOR.metadata.mailgent_agent}}/send" { capabilities = ["create", "update"] }
path "mailgent/agents/{{identity.entity.aliases.APPROLE_ACCESSOR.metadata.mailgent_agent}}/audit" { capabilities = ["read", "list"] }
path "mailgent/agents/{{identity.entity.aliases.APPROLE_ACCESSOR.metadata.mailgent_agent}}/sent" { capabilities = ["read", "list"] }
path "mailgent/agents/{{identity.entity.aliases.APPROLE_ACCESSOR.metadata.mailgent_agent}}/sent/*" { capabilities = ["read"] }
path "mailgent/agents/{{identity.entity.aliases.APPROLE_ACCESSOR.metadata.mailgent_agent}}/threads" { capabilities = ["read", "list"] }
path "mailgent/agents/{{identity.entity.aliases.APPROLE_ACCESSOR.metadata.mailgent_agent}}/threads/*" { capabilities = ["read"] }
