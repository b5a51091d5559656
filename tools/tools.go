//go:build tools

// Package tools pins the real servers Mailgent runs in development and tests.
// `make tools` builds them into ../bin from the Go module proxy; nothing else is downloaded.
package tools

import (
	_ "github.com/axllent/mailpit"
	_ "github.com/hashicorp/vault"
	_ "github.com/nats-io/nats-server/v2"
)
