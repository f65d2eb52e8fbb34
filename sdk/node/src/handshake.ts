// The go-plugin handshake as the taskhost host speaks it
// (shared/plugin.go; a Go test checks these values against it).

/** The magic cookie the host sets in a plugin's environment. */
export const magicCookieKey = 'TASKHOST_PLUGIN';
export const magicCookieValue = 'b7d3f0c1-taskhost-worker';

/**
 * The worker protocol versions this SDK speaks (shared.ProtocolUnary and
 * shared.ProtocolCalls): 1, a unary Invoke per call; 2, every call on one
 * Calls stream.
 */
export const protocolVersions = [1, 2];

/** go-plugin's own protocol version, the handshake line's first field. */
export const coreProtocolVersion = 1;

/** The go-plugin health service name a plugin reports SERVING for. */
export const healthService = 'plugin';

/** notAPluginMessage is what a plugin run by hand says before it exits. */
export const notAPluginMessage =
  'This program is a taskhost handler plugin: the taskhost host starts it, for a handler\n' +
  'block in its config that names it; it is not meant to be run by hand.\n' +
  `(The host sets ${magicCookieKey} in its environment, and it is not set.)\n`;

/**
 * negotiate picks the protocol version: the highest of ours that the host
 * lists in PLUGIN_PROTOCOL_VERSIONS, or else our lowest, which the host
 * then refuses with a message naming both (go-plugin's server does the
 * same).
 */
export function negotiate(env: string | undefined, ours: number[] = protocolVersions): number {
  const theirs = new Set(
    (env ?? '')
      .split(',')
      .map((s) => Number.parseInt(s.trim(), 10))
      .filter((n) => Number.isInteger(n)),
  );
  const sorted = [...ours].sort((a, b) => b - a);
  return sorted.find((v) => theirs.has(v)) ?? sorted[sorted.length - 1];
}

/**
 * handshakeLine is the one line a plugin prints on stdout:
 * core version | app version | network | address | protocol, and with
 * go-plugin's AutoMTLS the server certificate (DER, base64 without
 * padding) as a sixth field.
 */
export function handshakeLine(version: number, network: 'unix' | 'tcp', address: string, serverCertDER?: Buffer): string {
  const fields = [String(coreProtocolVersion), String(version), network, address, 'grpc'];
  if (serverCertDER) fields.push(serverCertDER.toString('base64').replace(/=+$/, ''));
  return fields.join('|') + '\n';
}
