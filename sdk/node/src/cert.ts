// A self-signed ECDSA P-256 certificate for "localhost", made without a
// dependency: Node's crypto makes and signs keys but has no API to issue
// certificates, so the few DER structures of RFC 5280 are written here.
// P-256 as the host's own scheme (shared.NewIdentity): every TLS 1.3 stack
// must support it, and its keys take well under a millisecond to make,
// where go-plugin's P-521 keys take tens.

import { createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

/** A certificate and its private key, both PEM. */
export interface KeyPair {
  cert: string;
  key: string;
  /** The certificate's DER bytes. */
  der: Buffer;
}

/**
 * selfSignedCert makes a P-256 key and a certificate for it, valid for
 * the name "localhost" (go-plugin's client checks that name), for TLS
 * servers and clients, from 30 seconds ago for 30 years, like go-plugin's
 * own.
 */
export function selfSignedCert(now: Date = new Date()): KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const der = issue(publicKey, privateKey, now);
  return { cert: toPEM('CERTIFICATE', der), key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, der };
}

/** keyFromPEM reads a PKCS#8 PEM private key. */
export function keyFromPEM(pem: string): KeyObject {
  return createPrivateKey({ key: pem, format: 'pem' });
}

function issue(publicKey: KeyObject, privateKey: KeyObject, now: Date): Buffer {
  const ecdsaWithSHA256 = seq(oid('1.2.840.10045.4.3.2'));
  const name = seq(set(seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from('localhost'))))); // CN=localhost, UTF8String
  const serial = randomBytes(16);
  serial[0] &= 0x7f; // positive
  serial[0] |= 0x40; // and minimal: no leading zero byte
  const notBefore = new Date(now.getTime() - 30_000);
  const notAfter = new Date(now.getTime() + 262_980 * 3_600_000);
  const extensions = seq(
    // keyUsage, critical: digitalSignature (bit 0) and keyCertSign (bit 5).
    seq(oid('2.5.29.15'), tlv(0x01, Buffer.from([0xff])), tlv(0x04, tlv(0x03, Buffer.from([0x02, 0x84])))),
    // extKeyUsage: serverAuth, clientAuth.
    seq(oid('2.5.29.37'), tlv(0x04, seq(oid('1.3.6.1.5.5.7.3.1'), oid('1.3.6.1.5.5.7.3.2')))),
    // basicConstraints, critical: a CA (its own root, as go-plugin's are).
    seq(oid('2.5.29.19'), tlv(0x01, Buffer.from([0xff])), tlv(0x04, seq(tlv(0x01, Buffer.from([0xff]))))),
    // subjectAltName: dNSName localhost.
    seq(oid('2.5.29.17'), tlv(0x04, seq(tlv(0x82, Buffer.from('localhost'))))),
  );
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))), // version v3
    tlv(0x02, serial),
    ecdsaWithSHA256,
    name,
    seq(time(notBefore), time(notAfter)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    tlv(0xa3, extensions),
  );
  const signature = sign('sha256', tbs, privateKey); // DER, as X.509 wants it
  return seq(tbs, ecdsaWithSHA256, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
}

function toPEM(label: string, der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}-----END ${label}-----\n`;
}

/** tlv encodes one DER element: tag, definite length, value. */
function tlv(tag: number, value: Buffer): Buffer {
  const n = value.length;
  let len: Buffer;
  if (n < 0x80) {
    len = Buffer.from([n]);
  } else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, value]);
}

function seq(...items: Buffer[]): Buffer {
  return tlv(0x30, Buffer.concat(items));
}

function set(...items: Buffer[]): Buffer {
  return tlv(0x31, Buffer.concat(items));
}

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out = [40 * parts[0] + parts[1]];
  for (const p of parts.slice(2)) {
    const groups = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) groups.unshift((v & 0x7f) | 0x80);
    out.push(...groups);
  }
  return tlv(0x06, Buffer.from(out));
}

/** time is UTCTime before 2050 and GeneralizedTime from then on (RFC 5280). */
function time(d: Date): Buffer {
  const iso = d.toISOString(); // 2026-03-09T10:30:00.000Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '') + 'Z'; // 20260309103000Z
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(digits.slice(2))) : tlv(0x18, Buffer.from(digits));
}
