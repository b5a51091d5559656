package relay

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// selfSigned writes a certificate for mx.agents.example.com and returns
// the cert and key paths and a pool that trusts it.
func selfSigned(t *testing.T) (string, string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mx.agents.example.com"},
		DNSNames:     []string{"mx.agents.example.com"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	require.NoError(t, os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, pool
}

func TestSTARTTLSWhenCertificateConfigured(t *testing.T) {
	certPath, keyPath, pool := selfSigned(t)
	addr := startServer(t, func(c *Config) { c.TLSCertFile, c.TLSKeyFile = certPath, keyPath })
	c, err := smtp.Dial(addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Hello("client.example.org"))
	ok, _ := c.Extension("STARTTLS")
	require.True(t, ok, "STARTTLS advertised")
	require.NoError(t, c.StartTLS(&tls.Config{ServerName: "mx.agents.example.com", RootCAs: pool}))
	state, ok := c.TLSConnectionState()
	require.True(t, ok)
	require.GreaterOrEqual(t, state.Version, uint16(tls.VersionTLS12))
	require.NoError(t, c.Mail("a@example.org"))

	// Without a certificate there is no STARTTLS.
	plain := startServer(t, nil)
	c2, err := smtp.Dial(plain)
	require.NoError(t, err)
	defer c2.Close()
	require.NoError(t, c2.Hello("client.example.org"))
	ok, _ = c2.Extension("STARTTLS")
	require.False(t, ok)

	// A bad pair is a clear configuration error.
	cfg := DefaultConfig()
	cfg.KeyFile = testKeyFile(t)
	cfg.Domain, cfg.TLSCertFile, cfg.TLSKeyFile = "agents.example.com", keyPath, certPath
	_, err = New(cfg, nil)
	require.ErrorContains(t, err, "-tls-cert")
}
