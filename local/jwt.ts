import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errors, jwtVerify, SignJWT } from 'jose';

/**
 * Local tokens: an RS256 key pair made at first start under `$FENIX_DATA_DIR/auth`, tokens signed
 * with it, and the checks API Gateway's JWT authorizer makes (signature, `alg`, `iss`, `aud`, `exp`,
 * `nbf`). Signing and verification are jose's, so the local gateway refuses what a well-audited
 * library refuses, as the authorizer in AWS is AWS's own code and not ours.
 */
export const LOCAL_ISSUER = 'https://fenix.local';
export const LOCAL_AUDIENCE = 'fenix';

export interface TokenRequest {
  admin?: boolean;
  project?: string;
  subject?: string;
  ttlSeconds?: number;
}

export type Verified = { claims: Record<string, unknown> } | { error: string };

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
  issue(request: TokenRequest): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      scope: request.admin ? 'fenix/admin' : 'fenix/project',
      ...(request.project ? { 'fenix:project_id': request.project } : {}),
    })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
      .setIssuer(LOCAL_ISSUER)
      .setAudience(LOCAL_AUDIENCE)
      .setSubject(request.subject ?? (request.admin ? 'local-admin' : `vnfm-${request.project}`))
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + (request.ttlSeconds ?? 12 * 3600))
      .setJti(randomUUID())
      .sign(this.privateKey);
  }

  /** The verified claims, or a reason the token is refused. */
  async verify(token: string): Promise<Verified> {
    try {
      // Only RS256: `none` and HMAC algorithms (key confusion) are refused before any check.
      const { payload } = await jwtVerify(token, this.publicKey, {
        algorithms: ['RS256'],
        issuer: LOCAL_ISSUER,
        audience: LOCAL_AUDIENCE,
        requiredClaims: ['exp'],
      });
      return { claims: payload };
    } catch (error) {
      return { error: refusal(error) };
    }
  }
}

/** A short reason for the 401 (the API says which check failed, never more). */
const refusal = (error: unknown): string => {
  if (error instanceof errors.JWTExpired) return 'expired';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'bad signature';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'unsupported alg';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'iss') return 'wrong issuer';
    if (error.claim === 'aud') return 'wrong audience';
    if (error.claim === 'nbf') return 'not valid yet';
    return `invalid ${error.claim} claim`;
  }
  return 'malformed token';
};
