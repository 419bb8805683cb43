import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyEventV2WithJWTAuthorizer,
  APIGatewayProxyEventV2WithLambdaAuthorizer,
} from 'aws-lambda';
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

/**
 * What the Keystone Lambda authorizer hands on (its simple response's `context`), which API Gateway
 * passes to the route as `requestContext.authorizer.lambda`; the local runtime does the same.
 */
export interface AuthorizerContext {
  subject: string;
  admin: boolean;
  /** Absent when the token is scoped to no project. */
  project?: string;
}

export const authorizerContext = (identity: Identity): AuthorizerContext => ({
  subject: identity.subject,
  admin: identity.admin,
  ...(identity.project ? { project: identity.project } : {}),
});

/**
 * Reads the identity the authorizer verified and passed on: the JWT authorizer's claims, or the
 * Keystone Lambda authorizer's context. Neither can come from the caller: API Gateway (or the local
 * gateway) writes `requestContext.authorizer`.
 */
export const identityOf = (event: APIGatewayProxyEventV2): Identity | undefined => {
  const authorizer = (
    event as APIGatewayProxyEventV2WithJWTAuthorizer | APIGatewayProxyEventV2WithLambdaAuthorizer<unknown>
  ).requestContext.authorizer as { jwt?: { claims?: Claims }; lambda?: Record<string, unknown> } | undefined;
  const claims = authorizer?.jwt?.claims;
  if (claims) return identityFromClaims(claims);
  const context = authorizer?.lambda;
  return context ? identityFromContext(context) : undefined;
};

/** The Lambda authorizer's context back into an Identity (values may arrive as strings). */
export const identityFromContext = (context: Record<string, unknown>): Identity | undefined => {
  const { subject, admin, project } = context;
  if (typeof subject !== 'string' || subject === '') return undefined;
  return {
    subject,
    admin: admin === true || admin === 'true',
    ...(typeof project === 'string' && project !== '' ? { project } : {}),
  };
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
 * Authentication (signature, issuer, audience, expiry; or Keystone's validation of the token)
 * happened in front of the handler: API Gateway's JWT or Lambda authorizer in AWS, the local
 * runtime's identical check locally. A request without a verified identity is refused here too,
 * in case a route is ever wired without the authorizer.
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
