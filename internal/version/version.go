// Package version holds the build version of the Mailgent binaries.
package version

// Version is set at build time for releases with
// -ldflags "-X github.com/mailgent/mailgent/internal/version.Version=v1.2.3"
// (`make build VERSION=v1.2.3`). The plugin reports it to Vault, which then
// registers the plugin under that version: `vault plugin info -version=v1.2.3 …`.
// Development builds leave it empty, so the plugin registers unversioned and
// `vault plugin info secret vault-plugin-mailgent` finds it.
var Version = ""

// String is Version, or "v0.0.0-dev" for a development build.
func String() string {
	if Version == "" {
		return "v0.0.0-dev"
	}
	return Version
}
