package plugin

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-uuid"
	"github.com/hashicorp/vault/sdk/logical"
)

// Storage helpers every concept uses: JSON entries, whole trees, IDs, and
// keys that list newest first. Each concept's own layout is in its file
// (inbox.go, sent.go, audit.go, creds.go, path_agents.go, …).

// getJSON reads and decodes one storage entry; (nil, nil) when absent.
func getJSON[T any](ctx context.Context, s logical.Storage, key string) (*T, error) {
	entry, err := s.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if entry == nil {
		return nil, nil
	}
	v := new(T)
	if err := entry.DecodeJSON(v); err != nil {
		return nil, fmt.Errorf("decode %s: %w", key, err)
	}
	return v, nil
}

// putJSON encodes and writes one storage entry.
func putJSON(ctx context.Context, s logical.Storage, key string, v any) error {
	entry, err := logical.StorageEntryJSON(key, v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if err := s.Put(ctx, entry); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

func newID() (string, error) {
	id, err := uuid.GenerateUUID()
	if err != nil {
		return "", errors.New("generate id: " + err.Error())
	}
	return id, nil
}

// deleteTree deletes every entry under prefix, recursively.
func deleteTree(ctx context.Context, s logical.Storage, prefix string) (int, error) {
	keys, err := s.List(ctx, prefix)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		if strings.HasSuffix(k, "/") {
			m, err := deleteTree(ctx, s, prefix+k)
			if err != nil {
				return n, err
			}
			n += m
			continue
		}
		if err := s.Delete(ctx, prefix+k); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Storage keys that list newest first (audit events, inbox messages, sent
// mail) begin with the time as reverse nanoseconds, zero-padded: Vault's
// List returns keys in lexical order, so the newest comes first and a scan
// can stop at a cutoff without decoding anything.

// reverseTime is t as a 19-digit reverse-nanosecond key prefix.
func reverseTime(t time.Time) string {
	return fmt.Sprintf("%019d", math.MaxInt64-t.UnixNano())
}

// timeOfReverse reads the time back from a key that begins with reverseTime.
func timeOfReverse(key string) time.Time {
	if len(key) < 19 {
		return time.Time{}
	}
	n, err := strconv.ParseInt(key[:19], 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(0, math.MaxInt64-n)
}
