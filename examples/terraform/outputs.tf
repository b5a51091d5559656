# Only the create answers with the agent (an update is a 204), hence the fallback.
output "agent_address" {
  value = lookup(vault_generic_endpoint.agent.write_data, "address", "${var.agent}@${lower(var.domain)}")
}

output "policy_name" {
  value = vault_policy.agents.name
}

output "approle_role_name" {
  value = local.role_name
}

output "role_id" {
  value = nonsensitive(data.vault_generic_secret.role_id.data["role_id"])
}

output "secret_id" {
  description = "The agent's secret ID (not wrapped: it is in the state)."
  value       = vault_generic_endpoint.secret_id.write_data["secret_id"]
  sensitive   = true
}

output "credential_version" {
  value = lookup(vault_generic_endpoint.credential.write_data, "version", null)
}
