# Only the create answers with the agent (an update is a 204), hence the fallback.
output "agent_address" {
  value = lookup(vault_generic_endpoint.agent.write_data, "address", "${var.agent}@${lower(var.domain)}")
}

output "policy_name" {
  value = vault_policy.agent.name
}

output "approle_role_name" {
  value = vault_approle_auth_backend_role.agent.role_name
}

output "role_id" {
  value = vault_approle_auth_backend_role.agent.role_id
}

output "wrapped_secret_id" {
  description = "Wrapping token of the agent's secret ID: valid 10 minutes, unwrappable once."
  value       = vault_approle_auth_backend_role_secret_id.agent.wrapping_token
  sensitive   = true
}

output "credential_version" {
  value = lookup(vault_generic_endpoint.credential.write_data, "version", null)
}
