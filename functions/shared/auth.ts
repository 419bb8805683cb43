import type { APIGatewayProxyEventV2, APIGatewayProxyEventV2WithJWTAuthorizer } from 'aws-lambda';
import { ForbiddenError, UnauthorizedError } from '../core/errors.js';

/** Who may call a route: admins only; admins and the path's project; or any admin or project token. */
export type Access = 'admin' | 'project' | 'any';

export interface Identity {
  /** The token subject (`sub`, else `client_id`), recorded with replies. */
  subject: string;
  admin: boolean;
  /** The project a project token speaks for. */
  project?: string;
}

export const ADMIN_SCOPE = 'fenix/admin';
export const PROJECT_SCOPE = 'fenix/project';
/** Claims that may name a token's project (a custom claim of an OIDC issuer, e.g. Keystone or Okta). */
const PROJECT_CLAIMS = ['fenix:project_id', 'project_id'];
/** Or a scope naming it, which Cognito machine clients can carry without a trigger. */
const PROJECT_SCOPE_PREFIX = `${PROJECT_SCOPE}.`;

type Claims = Record<string, string | number | boolean | string[]>;

/** Reads the identity from the claims the JWT authorizer verified and passed on. */
export const identityOf = (event: APIGatewayProxyEventV2): Identity | undefined => {
  const claims = (event as APIGatewayProxyEventV2WithJWTAuthorizer).requestContext.authorizer?.jwt?.claims as
    | Claims
    | undefined;
  return claims ? identityFromClaims(claims) : undefined;
};

export const identityFromClaims = (claims: Claims): Identity => {
  const rawScopes = claims.scope ?? claims.scp ?? '';
  const scopes = Array.isArray(rawScopes) ? rawScopes.map(String) : String(rawScopes).split(' ');
  const claimed = PROJECT_CLAIMS.map((name) => claims[name]).find(
    (value) => typeof value === 'string' && value !== '',
  ) as string | undefined;
  const scoped = scopes.find((scope) => scope.startsWith(PROJECT_SCOPE_PREFIX))?.slice(PROJECT_SCOPE_PREFIX.length);
  return {
    subject: String(claims.sub ?? claims.client_id ?? 'unknown'),
    admin: scopes.includes(ADMIN_SCOPE),
    project: claimed ?? scoped,
  };
};

/**
 * Authorization, checked before anything is looked up, so a refused caller learns nothing about
 * what exists (OWASP API1, BOLA): admin routes need the admin scope; project routes take an admin
 * or a token whose project equals the `{project_id}` in the path — never the path alone.
 * Authentication (signature, issuer, audience, expiry) happened in front of the handler: API
 * Gateway's JWT authorizer in AWS, the local runtime's identical check locally. A request without
 * verified claims is refused here too, in case a route is ever wired without the authorizer.
 */
export const authorize = (
  event: APIGatewayProxyEventV2,
  access: Access,
  params: Record<string, string | undefined>,
): Identity => {
  const identity = identityOf(event);
  if (!identity) throw new UnauthorizedError('a bearer token is required');
  if (identity.admin) return identity;
  if (access === 'admin') throw new ForbiddenError(`this route needs the ${ADMIN_SCOPE} scope`);
  if (access === 'any') {
    if (!identity.project) throw new ForbiddenError('this route needs an admin token or a token naming a project');
    return identity;
  }
  if (!identity.project || identity.project !== params.project_id) {
    throw new ForbiddenError('this token may act only for its own project');
  }
  return identity;
};
