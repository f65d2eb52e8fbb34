package shared

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Transport security between the host and a plugin process (package sdk's
// doc has the whole scheme, for SDKs in other languages): the host holds
// one ECDSA P-256 identity; for every plugin process it starts it issues a
// fresh one and hands it over in the process's environment, with the
// host's own certificate. Each side presents its certificate and trusts
// exactly the other's, over TLS 1.3.
const (
	// EnvHostCert holds the host's certificate (PEM). It is the variable
	// go-plugin's AutoMTLS uses for the same certificate.
	EnvHostCert = "PLUGIN_CLIENT_CERT"
	// EnvPluginCert holds the plugin's certificate (PEM).
	EnvPluginCert = "TASKHOST_PLUGIN_CERT"
	// EnvPluginKey holds the plugin's private key (PKCS #8, PEM).
	EnvPluginKey = "TASKHOST_PLUGIN_KEY"
	// TLSName is the DNS name in every certificate of the scheme, and the
	// server name a side verifies when it dials the other.
	TLSName = "localhost"
)

// certLifetime is how long a certificate is valid: it is checked at every
// TLS handshake, and a worker may live as long as the host.
const certLifetime = 100 * 365 * 24 * time.Hour

// Identity is an ECDSA P-256 key with a self-signed certificate naming
// [TLSName].
//
// P-256 rather than Ed25519: TLS 1.3 requires every implementation to
// support ECDSA P-256 signatures while Ed25519 is optional (BoringSSL,
// under gRPC's C core and so its Python, Ruby and C++ bindings, does not
// accept it by default), and Go builds its Ed25519 tables at first use,
// about a millisecond in every new plugin process, where its P-256 tables
// are compiled in.
type Identity struct {
	// Certificate is the pair for a tls.Config, its Leaf parsed.
	Certificate tls.Certificate
	CertPEM     []byte
	// KeyPEM is the private key, PKCS #8.
	KeyPEM []byte
}

// NewIdentity makes a fresh key and certificate (well under a
// millisecond).
func NewIdentity() (*Identity, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("new identity: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("new identity: %w", err)
	}
	now := time.Now()
	// Shaped like `openssl req -x509`'s certificates, which every TLS
	// stack accepts as their own trust anchor: CA, self-signed, both
	// usages.
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: TLSName, Organization: []string{"taskhost"}},
		DNSNames:              []string{TLSName},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(certLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("new identity: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("new identity: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("new identity: %w", err)
	}
	return &Identity{
		Certificate: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		CertPEM:     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:      pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
	}, nil
}

// PluginTLS is what the host needs to start one plugin process over mutual
// TLS.
type PluginTLS struct {
	// Config is the host's side: it presents the host's certificate and
	// trusts only the plugin's.
	Config *tls.Config
	// Env is the plugin's part, NAME=value: the host's certificate, and the
	// plugin's certificate and key.
	Env []string
}

// NewPluginTLS issues a fresh identity for one plugin process of host.
func (host *Identity) NewPluginTLS() (PluginTLS, error) {
	plugin, err := NewIdentity()
	if err != nil {
		return PluginTLS{}, err
	}
	return PluginTLS{
		Config: mutualTLS(host.Certificate, plugin.Certificate.Leaf),
		Env: []string{
			EnvHostCert + "=" + string(host.CertPEM),
			EnvPluginCert + "=" + string(plugin.CertPEM),
			EnvPluginKey + "=" + string(plugin.KeyPEM),
		},
	}, nil
}

// PluginTLSConfig is the plugin's side of the scheme, built from the
// variables the host set (lookup is os.LookupEnv): it presents the
// plugin's certificate and accepts only clients presenting the host's. It
// returns nil, nil when neither [EnvPluginCert] nor [EnvPluginKey] is set:
// a host with mutual TLS off, an older host that uses go-plugin's AutoMTLS
// ([EnvHostCert] alone), or the binary run by hand. Any other mix, or a
// value that does not parse, is an error that names the variable.
func PluginTLSConfig(lookup func(string) (string, bool)) (*tls.Config, error) {
	certPEM, hasCert := lookup(EnvPluginCert)
	keyPEM, hasKey := lookup(EnvPluginKey)
	hostPEM, hasHost := lookup(EnvHostCert)
	switch {
	case !hasCert && !hasKey:
		return nil, nil
	case !hasCert || !hasKey || !hasHost:
		var missing []string
		for _, v := range []struct {
			name string
			set  bool
		}{{EnvHostCert, hasHost}, {EnvPluginCert, hasCert}, {EnvPluginKey, hasKey}} {
			if !v.set {
				missing = append(missing, v.name)
			}
		}
		return nil, fmt.Errorf("transport security: %v not set: the host sets %s, %s and %s together", missing, EnvHostCert, EnvPluginCert, EnvPluginKey)
	}
	own, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		return nil, fmt.Errorf("transport security: %s and %s: %w", EnvPluginCert, EnvPluginKey, err)
	}
	host, err := parseCertPEM(hostPEM)
	if err != nil {
		return nil, fmt.Errorf("transport security: %s: %w", EnvHostCert, err)
	}
	return mutualTLS(own, host), nil
}

// errNotIssued says that a peer presented a certificate other than the
// one expected of it.
var errNotIssued = errors.New("the peer presented a certificate other than the one the host issued for this connection")

// mutualTLS is either side's config: present own, accept exactly peer, as
// server and as client (go-plugin's broker may dial either way), TLS 1.3.
//
// The peer is pinned, not verified as a chain: VerifyConnection compares
// the certificate the peer presented with peer, and TLS 1.3 makes the
// peer prove it holds that certificate's key (CertificateVerify) whether
// or not the chain is verified. A chain of one self-signed certificate
// trusted as its own root adds nothing to that but two signature checks
// per side. X25519 alone for the key exchange: Go's default hybrid
// X25519MLKEM768 guards against a recording of the traffic decrypted by a
// future quantum computer, which a socket between a host and its child
// process does not call for. Together these take about a third off the
// handshake (~0.8 → ~0.55 ms of CPU, both sides, on the 2-core VM).
func mutualTLS(own tls.Certificate, peer *x509.Certificate) *tls.Config {
	return &tls.Config{
		Certificates:       []tls.Certificate{own},
		ClientAuth:         tls.RequireAnyClientCert,
		InsecureSkipVerify: true, // pinned below instead
		ServerName:         TLSName,
		MinVersion:         tls.VersionTLS13,
		CurvePreferences:   []tls.CurveID{tls.X25519},
		// Also why a pin and not a trust pool: go-plugin's client sets
		// RootCAs to any certificate a plugin prints in its handshake
		// line (its AutoMTLS), which would let a plugin choose what the
		// host trusts.
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !cs.PeerCertificates[0].Equal(peer) {
				return errNotIssued
			}
			return nil
		},
	}
}

func parseCertPEM(s string) (*x509.Certificate, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return x509.ParseCertificate(block.Bytes)
}
