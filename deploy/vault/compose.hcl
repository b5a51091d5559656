# Vault for docker-compose.yml: one file for the three nodes of the Raft
# cluster. What differs per node comes from its environment:
#   VAULT_RAFT_NODE_ID   vault-1, vault-2, vault-3
#   VAULT_API_ADDR       https://vault-N:8200   (what clients and retry_join use)
#   VAULT_CLUSTER_ADDR   https://vault-N:8201   (node-to-node: request
#                        forwarding and Raft, mutual TLS with keys Vault
#                        makes itself — nothing to configure here)
# The listener's TLS certificate comes from the compose `certs` service.
# Unsealing is Shamir, done by the `vault-init` service with the key it kept
# in a volume: fine for a stack on one machine, not for production, where an
# auto-unseal seal stanza goes here (docs/deploy.md, "Unsealing").
# integration/compose_test.go runs this file.

storage "raft" {
  path = "/vault/file"
  # Every node tries every node until one of them leads the cluster.
  retry_join {
    leader_api_addr     = "https://vault-1:8200"
    leader_ca_cert_file = "/tls/ca.pem"
  }
  retry_join {
    leader_api_addr     = "https://vault-2:8200"
    leader_ca_cert_file = "/tls/ca.pem"
  }
  retry_join {
    leader_api_addr     = "https://vault-3:8200"
    leader_ca_cert_file = "/tls/ca.pem"
  }
}

listener "tcp" {
  address         = "0.0.0.0:8200"
  cluster_address = "0.0.0.0:8201"
  tls_cert_file   = "/tls/server.pem"
  tls_key_file    = "/tls/server-key.pem"
  tls_min_version = "tls12"
}

# The plugin binary is mounted here on every node: the catalog (in Raft) is
# shared, the binaries are not.
plugin_directory = "/vault/plugins"

# Recommended with integrated storage (its files are memory-mapped); and the
# container then needs no IPC_LOCK.
disable_mlock = true

ui = false

telemetry {
  # /v1/sys/metrics?format=prometheus, for a token with read on sys/metrics.
  prometheus_retention_time = "1h"
  disable_hostname          = true
}
