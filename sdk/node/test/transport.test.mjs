import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';

import { selfSignedCert } from '../dist/cert.js';
import { acceptPeer, securityFromEnv } from '../dist/transport.js';

describe('selfSignedCert', () => {
  it('makes a P-256 certificate for localhost, signed by its own key', () => {
    const now = new Date('2026-03-09T10:30:00Z');
    const kp = selfSignedCert(now);
    const cert = new X509Certificate(kp.cert);
    assert.deepEqual(cert.raw, kp.der);
    assert.equal(cert.publicKey.asymmetricKeyType, 'ec');
    assert.equal(cert.publicKey.asymmetricKeyDetails.namedCurve, 'prime256v1');
    assert.equal(cert.subject, 'CN=localhost');
    assert.equal(cert.subjectAltName, 'DNS:localhost');
    assert.equal(cert.ca, true);
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    assert.equal(new Date(cert.validFrom).getTime(), now.getTime() - 30_000);
    assert.equal(new Date(cert.validTo).getUTCFullYear(), 2056, 'GeneralizedTime after 2049');
    assert.ok(cert.verify(cert.publicKey));
    assert.ok(cert.checkPrivateKey(createPrivateKey(kp.key)));
  });
});

describe('securityFromEnv', () => {
  const host = selfSignedCert();
  const plugin = selfSignedCert();

  it('is plaintext without the variables', () => {
    assert.deepEqual(securityFromEnv({}), { scheme: 'plaintext' });
  });

  it('is AutoMTLS with only the host certificate, and removes it', () => {
    const env = { PLUGIN_CLIENT_CERT: host.cert, OTHER: 'x' };
    const sec = securityFromEnv(env);
    assert.deepEqual(env, { OTHER: 'x' });
    assert.equal(sec.scheme, 'automtls');
    assert.equal(sec.tls.minVersion, 'TLSv1.2');
    assert.equal(sec.tls.requestCert, true);
    assert.deepEqual(sec.tls.ALPNProtocols, ['h2']);
    assert.ok(new X509Certificate(sec.handshakeCertDER).verify(new X509Certificate(sec.handshakeCertDER).publicKey));
    assert.ok(acceptPeer(sec, host.der));
    assert.ok(!acceptPeer(sec, plugin.der));
    assert.ok(!acceptPeer(sec, undefined));
  });

  it('serves the host-issued certificate over TLS 1.3, and removes the variables', () => {
    const env = { PLUGIN_CLIENT_CERT: host.cert, TASKHOST_PLUGIN_CERT: plugin.cert, TASKHOST_PLUGIN_KEY: plugin.key };
    const sec = securityFromEnv(env);
    assert.deepEqual(env, {});
    assert.equal(sec.scheme, 'taskhost');
    assert.equal(sec.tls.minVersion, 'TLSv1.3');
    assert.equal(sec.tls.cert, plugin.cert);
    assert.equal(sec.handshakeCertDER, undefined, 'five handshake fields');
    assert.ok(acceptPeer(sec, host.der));
    assert.ok(!acceptPeer(sec, plugin.der));
  });

  it('refuses what it cannot use, naming the variable', () => {
    assert.throws(() => securityFromEnv({ TASKHOST_PLUGIN_CERT: plugin.cert, TASKHOST_PLUGIN_KEY: plugin.key }), /PLUGIN_CLIENT_CERT is not/);
    assert.throws(() => securityFromEnv({ PLUGIN_CLIENT_CERT: 'nope' }), /PLUGIN_CLIENT_CERT: not a PEM certificate/);
    assert.throws(() => securityFromEnv({ PLUGIN_CLIENT_CERT: host.cert, TASKHOST_PLUGIN_CERT: plugin.cert }), /TASKHOST_PLUGIN_KEY is missing/);
    assert.throws(
      () => securityFromEnv({ PLUGIN_CLIENT_CERT: host.cert, TASKHOST_PLUGIN_CERT: plugin.cert, TASKHOST_PLUGIN_KEY: 'nope' }),
      /TASKHOST_PLUGIN_KEY: not a PEM private key/,
    );
    // Any key type the host issues: Ed25519 as well as P-256.
    const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' });
    assert.equal(securityFromEnv({ PLUGIN_CLIENT_CERT: host.cert, TASKHOST_PLUGIN_CERT: plugin.cert, TASKHOST_PLUGIN_KEY: ed }).scheme, 'taskhost');
  });
});
