// Package version holds the build version of the Mailgent binaries.
package version

// Version is set at build time with
// -ldflags "-X github.com/mailgent/mailgent/internal/version.Version=v1.2.3".
// It must look like a semantic version with a leading "v": Vault's plugin
// catalog reports it as the plugin's running version.
var Version = "v0.1.0-dev"
