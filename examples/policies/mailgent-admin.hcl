# Mailgent administrator: orgs, agents, their ACL policies and AppRole roles.
# Enough for `mailgent onboard` once AppRole is enabled at auth/approle
# (enabling it needs sudo on sys/auth/*, e.g. once by the Vault operator).
path "mailgent/config"                         { capabilities = ["read", "update"] }
path "mailgent/orgs"                           { capabilities = ["list"] }
path "mailgent/orgs/*"                         { capabilities = ["create", "read", "update", "delete", "list"] }
path "mailgent/agents"                         { capabilities = ["list"] }
path "mailgent/agents/*"                       { capabilities = ["create", "read", "update", "delete", "list"] }
path "sys/policies/acl/mailgent-*"             { capabilities = ["create", "read", "update", "delete"] }
path "sys/auth"                                { capabilities = ["read"] }
path "auth/approle/role/mailgent-*"            { capabilities = ["create", "read", "update", "delete"] }
path "auth/approle/role/mailgent-*/role-id"    { capabilities = ["read"] }
path "auth/approle/role/mailgent-*/secret-id"  { capabilities = ["create", "update"] }

# Administrators may read agents' passwords (break-glass). If yours must
# not, uncomment this; seeds are unreadable for everyone either way.
# path "mailgent/agents/+/creds/+" { capabilities = ["deny"] }
