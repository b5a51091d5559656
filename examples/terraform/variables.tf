variable "plugin_sha256" {
  description = "SHA-256 of the vault-plugin-mailgent binary in Vault's plugin_directory (sha256sum bin/vault-plugin-mailgent)."
  type        = string
}

variable "plugin_command" {
  description = "The plugin's file name, relative to Vault's plugin_directory."
  type        = string
  default     = "vault-plugin-mailgent"
}

variable "mount_path" {
  description = "Where the engine is mounted."
  type        = string
  default     = "mailgent"
}

variable "domain" {
  description = "The agents' mail domain: agents are <agent>@<domain>."
  type        = string
  default     = "agents.example.com"
}

variable "nats_url" {
  description = "NATS URL (or a comma-separated list) the plugin connects to."
  type        = string
  default     = "nats://nats.internal:4222"
}

variable "nats_username" {
  description = "The plugin's NATS user (deploy/nats/mailgent-users.conf)."
  type        = string
  default     = "mailgent-plugin"
}

variable "nats_ca_cert" {
  description = "PEM CA certificate of the NATS servers (TLS, verified). Empty only for a loopback nats:// URL."
  type        = string
  default     = ""
}

variable "relay_name" {
  type    = string
  default = "relay-1"
}

variable "relay_signing_key" {
  description = "The relay's signing_key, from mailgent-relay -print-registration -key-file …"
  type        = string
}

variable "relay_sealing_key" {
  description = "The relay's sealing_key, from mailgent-relay -print-registration -key-file …"
  type        = string
}

variable "nats_password" {
  description = "NATS password. Write-only in the plugin: config reads show only nats_password_set."
  type        = string
  sensitive   = true
}

variable "org" {
  type    = string
  default = "acme"
}

variable "agent" {
  description = "Agent name: the local part of its address. Never reusable once the agent is revoked (destroyed)."
  type        = string
  default     = "billing-bot"
}

variable "credential" {
  description = "Credential name, e.g. a site's host name."
  type        = string
  default     = "github.com"
}

variable "credential_username" {
  type    = string
  default = "billing-bot"
}

variable "credential_url" {
  type    = string
  default = "https://github.com/login"
}

variable "credential_password" {
  type      = string
  sensitive = true
}

variable "credential_totp_secret" {
  description = "Base32 TOTP seed. Write-only: no Mailgent path ever returns it."
  type        = string
  sensitive   = true
}

variable "secret_id_ttl" {
  description = "How long the agent's secret IDs can log in, in seconds (mailgent onboard: -secret-id-ttl, 720h)."
  type        = number
  default     = 2592000
}

variable "secret_id_num_uses" {
  description = "Logins per secret ID (mailgent onboard: -secret-id-num-uses)."
  type        = number
  default     = 100
}
