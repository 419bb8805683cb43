import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomUUID,
  sign,
  verify,
} from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Local tokens: an RS256 key pair made at first start under `$FENIX_DATA_DIR/auth`, tokens signed
 * with it, and the same checks API Gateway's JWT authorizer makes (signature, `alg`, `iss`, `aud`,
 * `exp`, `nbf`). Node's crypto only: nothing to install.
 */
export const LOCAL_ISSUER = 'https://fenix.local';
export const LOCAL_AUDIENCE = 'fenix';

export interface TokenRequest {
  admin?: boolean;
  project?: string;
  subject?: string;
  ttlSeconds?: number;
}

const base64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

export class LocalKeys {
  private constructor(
    private readonly privateKey: KeyObject,
    private readonly publicKey: KeyObject,
  ) {}

  /** Loads the key pair from `<dataDir>/auth`, creating it on first use. */
  static load(dataDir: string): LocalKeys {
    const dir = join(dataDir, 'auth');
    const file = join(dir, 'jwt-private.pem');
    if (!existsSync(file)) {
      mkdirSync(dir, { recursive: true });
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    }
    const privateKey = createPrivateKey(readFileSync(file));
    return new LocalKeys(privateKey, createPublicKey(privateKey));
  }

  /** A bearer token: the admin scope, or the project scope with the project claim. */
  issue(request: TokenRequest): string {
    const now = Math.floor(Date.now() / 1000);
    const scope = request.admin ? 'fenix/admin' : 'fenix/project';
    const claims = {
      iss: LOCAL_ISSUER,
      aud: LOCAL_AUDIENCE,
      sub: request.subject ?? (request.admin ? 'local-admin' : `vnfm-${request.project}`),
      iat: now,
      nbf: now,
      exp: now + (request.ttlSeconds ?? 12 * 3600),
      jti: randomUUID(),
      scope,
      ...(request.project ? { 'fenix:project_id': request.project } : {}),
    };
    const signingInput = `${base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }))}.${base64url(JSON.stringify(claims))}`;
    return `${signingInput}.${base64url(sign('sha256', Buffer.from(signingInput), this.privateKey))}`;
  }

  /** The verified claims, or a reason the token is refused. */
  verify(token: string): { claims: Record<string, unknown> } | { error: string } {
    const parts = token.split('.');
    if (parts.length !== 3) return { error: 'malformed token' };
    const [header, payload, signature] = parts as [string, string, string];
    let decoded: { header: Record<string, unknown>; claims: Record<string, unknown> };
    try {
      decoded = {
        header: JSON.parse(Buffer.from(header, 'base64url').toString('utf8')),
        claims: JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')),
      };
    } catch {
      return { error: 'malformed token' };
    }
    // Only RS256: `none` and HMAC algorithms (key confusion) are refused outright.
    if (decoded.header.alg !== 'RS256') return { error: `unsupported alg ${String(decoded.header.alg)}` };
    if (!verify('sha256', Buffer.from(`${header}.${payload}`), this.publicKey, Buffer.from(signature, 'base64url'))) {
      return { error: 'bad signature' };
    }
    const { claims } = decoded;
    const now = Math.floor(Date.now() / 1000);
    if (claims.iss !== LOCAL_ISSUER) return { error: 'wrong issuer' };
    const audience = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!audience.includes(LOCAL_AUDIENCE)) return { error: 'wrong audience' };
    if (typeof claims.exp !== 'number' || claims.exp <= now) return { error: 'expired' };
    if (typeof claims.nbf === 'number' && claims.nbf > now + 60) return { error: 'not valid yet' };
    return { claims };
  }
}
