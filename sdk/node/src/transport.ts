// Transport security between the host and this plugin. The host picks the
// scheme through the environment it starts the plugin with:
//
//   - TASKHOST_PLUGIN_CERT, TASKHOST_PLUGIN_KEY and PLUGIN_CLIENT_CERT: the
//     host made this plugin's certificate and key (PEM; the key PKCS#8,
//     ECDSA P-256 from today's host) and pins that certificate; the plugin
//     serves TLS 1.3 with them and accepts only the host's certificate,
//     PLUGIN_CLIENT_CERT (shared/transport.go, the host's side). The
//     handshake line has its usual five fields.
//   - only PLUGIN_CLIENT_CERT: go-plugin's AutoMTLS. The plugin makes its
//     own key and self-signed certificate, accepts only the host's
//     certificate, and hands its own back as the handshake's sixth field.
//   - neither: plaintext (a handler with mTLS turned off).
//
// In both TLS schemes the plugin checks that the client's certificate is
// byte for byte the host's: the TLS handshake has already proved that the
// client holds its key.

import { X509Certificate } from 'node:crypto';
import type { TlsOptions } from 'node:tls';

import { keyFromPEM, selfSignedCert } from './cert.js';

export const envPluginCert = 'TASKHOST_PLUGIN_CERT';
export const envPluginKey = 'TASKHOST_PLUGIN_KEY';
export const envClientCert = 'PLUGIN_CLIENT_CERT';

/** Security is how the plugin serves. */
export interface Security {
  scheme: 'taskhost' | 'automtls' | 'plaintext';
  /** Options for tls.createServer; absent for plaintext. */
  tls?: TlsOptions;
  /** The host's certificate (DER), the only client certificate accepted. */
  clientCertDER?: Buffer;
  /** Set for AutoMTLS: the server certificate (DER) for the handshake line. */
  handshakeCertDER?: Buffer;
}

/**
 * securityFromEnv reads the scheme from env and deletes its variables
 * from env (so that nothing the plugin runs inherits the key), whatever
 * the outcome. It throws on a malformed certificate or key.
 */
export function securityFromEnv(env: NodeJS.ProcessEnv): Security {
  const pluginCert = env[envPluginCert];
  const pluginKey = env[envPluginKey];
  const clientCert = env[envClientCert];
  delete env[envPluginCert];
  delete env[envPluginKey];
  delete env[envClientCert];

  if (!clientCert) {
    if (pluginCert || pluginKey) {
      throw new Error(`${envPluginCert} and ${envPluginKey} are set but ${envClientCert} is not: refusing to serve without the host's certificate`);
    }
    return { scheme: 'plaintext' };
  }
  const clientCertDER = parseCert(clientCert, envClientCert);
  const common: TlsOptions = {
    requestCert: true,
    // The client's certificate is checked against the host's exactly, in
    // acceptPeer, rather than as a chain: the host's need not be a CA.
    rejectUnauthorized: false,
    // The one certificate there is to trust. Without a ca, Node builds its
    // store of ~140 public root certificates for the context: 40-70 ms of
    // a cold start in the host's empty environment.
    ca: clientCert,
    ALPNProtocols: ['h2'],
  };

  if (pluginCert || pluginKey) {
    if (!pluginCert || !pluginKey) {
      throw new Error(`${pluginCert ? envPluginKey : envPluginCert} is missing: the host sets both ${envPluginCert} and ${envPluginKey}`);
    }
    parseCert(pluginCert, envPluginCert);
    try {
      keyFromPEM(pluginKey);
    } catch (err) {
      throw new Error(`${envPluginKey}: not a PEM private key: ${(err as Error).message}`);
    }
    return {
      scheme: 'taskhost',
      tls: { ...common, cert: pluginCert, key: pluginKey, minVersion: 'TLSv1.3' },
      clientCertDER,
    };
  }

  const own = selfSignedCert();
  return {
    scheme: 'automtls',
    // go-plugin's client asks for TLS 1.2 at least.
    tls: { ...common, cert: own.cert, key: own.key, minVersion: 'TLSv1.2' },
    clientCertDER,
    handshakeCertDER: own.der,
  };
}

/** acceptPeer reports whether a TLS client's certificate (DER) is the host's. */
export function acceptPeer(sec: Security, peerDER: Buffer | undefined): boolean {
  return sec.clientCertDER !== undefined && peerDER !== undefined && peerDER.equals(sec.clientCertDER);
}

function parseCert(pem: string, name: string): Buffer {
  try {
    return new X509Certificate(pem).raw;
  } catch (err) {
    throw new Error(`${name}: not a PEM certificate: ${(err as Error).message}`);
  }
}
