import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type {
  APIGatewayEventRequestContextJWTAuthorizer,
  APIGatewayEventRequestContextLambdaAuthorizer,
  APIGatewayEventRequestContextV2WithAuthorizer,
  APIGatewayProxyEventV2,
  APIGatewayProxyEventV2WithRequestContext,
  APIGatewayProxyStructuredResultV2,
} from 'aws-lambda';
import { InvalidTokenError, type KeystoneTokens } from '../functions/adapters/openstack/keystone-tokens.js';
import { authorizerContext, type Identity, identityFromClaims, identityFromContext } from '../functions/shared/auth.js';
import type { Verified } from './jwt.js';

export type ApiHandler = (
  event: APIGatewayProxyEventV2,
  context: unknown,
) => Promise<APIGatewayProxyStructuredResultV2>;

export interface Route {
  method: string;
  /** API Gateway route path, e.g. `/v1/maintenance/{session_id}`. */
  path: string;
  handler: ApiHandler;
}

/** API Gateway's own cap on payloads; bodies above it are refused before any handler runs. */
export const GATEWAY_MAX_BODY_BYTES = 1024 * 1024;

const errorBody = (status: number, error: string, message: string) => ({
  statusCode: status,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ error, message }),
});

/** Turns a route path into a matcher; `{name}` matches one non-empty segment. Trailing slash optional. */
const compile = (path: string) => {
  const names: string[] = [];
  const source = path.replace(/\{(\w+)\}/g, (_, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  const regex = new RegExp(`^${source}/?$`);
  return (rawPath: string): Record<string, string> | undefined => {
    const match = regex.exec(rawPath);
    if (!match) return undefined;
    const params: Record<string, string> = {};
    names.forEach((name, index) => {
      const raw = match[index + 1] ?? ''; // every group is non-optional, so always matched
      try {
        params[name] = decodeURIComponent(raw);
      } catch {
        params[name] = raw; // malformed %-escape: handed over as is, the handler's validation refuses it
      }
    });
    return params;
  };
};

/** Static segments beat parameters (as in API Gateway): `/{s}/detail` wins over `/{s}/{p}`. */
const specificity = (path: string) => path.split('/').filter((segment) => segment && !segment.startsWith('{')).length;

/**
 * What the authorizer decided: the JWT authorizer's verified claims, the Lambda authorizer's
 * context, a 401 for a missing or invalid bearer token, or any other answer it gives instead.
 */
export type Authentication =
  | Verified
  | { lambda: Record<string, unknown> }
  | { refusal: APIGatewayProxyStructuredResultV2 };

/**
 * The local stand-in for an HTTP API: matches the route, builds the same payload-format-2.0 event
 * API Gateway sends, calls the handler export Lambda would call, and writes its result back.
 * `authenticate` plays the authorizer (JWT, or Keystone's Lambda authorizer): it may refuse, or
 * attach the verified claims or context where API Gateway puts them.
 */
export type Authenticator = (headers: IncomingHttpHeaders) => Promise<Authentication>;

/** The 401 API Gateway's JWT authorizer answers (here in the API's error shape). */
export const unauthorized = (why: string): APIGatewayProxyStructuredResultV2 => ({
  ...errorBody(401, 'unauthorized', `a valid bearer token is required (${why})`),
  headers: { 'content-type': 'application/json', 'www-authenticate': 'Bearer' },
});

/** Checks `Authorization: Bearer <jwt>`; claims are handed on as strings, as API Gateway does. */
export const bearerAuthenticator =
  (verify: (token: string) => Promise<Verified>): Authenticator =>
  async ({ authorization }) => {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!match) return { error: authorization ? 'not a bearer token' : 'no Authorization header' };
    const [, token = ''] = match;
    const result = await verify(token);
    if ('error' in result) return result;
    const claims = Object.fromEntries(
      Object.entries(result.claims).map(([key, value]) => [
        key,
        Array.isArray(value) ? `[${value.join(' ')}]` : String(value),
      ]),
    );
    return { claims };
  };

/**
 * Checks `X-Auth-Token: <Keystone token>`, as the Keystone Lambda authorizer does in AWS, and hands
 * the identity on the same way (`requestContext.authorizer.lambda`). A refused token is a 401 with
 * the reason and, as keystonemiddleware answered for Fenix, `WWW-Authenticate: Keystone uri=…`;
 * Keystone being unavailable is a 503 that says so (API Gateway can only answer 500 there).
 */
export const keystoneAuthenticator =
  (tokens: Pick<KeystoneTokens, 'validate' | 'endpoint'>): Authenticator =>
  async (headers) => {
    const challenge = { 'www-authenticate': `Keystone uri="${tokens.endpoint}"` };
    const refuse = (why: string) => ({
      refusal: {
        ...errorBody(401, 'unauthorized', `a valid Keystone token is required in X-Auth-Token (${why})`),
        headers: { 'content-type': 'application/json', ...challenge },
      },
    });
    const token = headers['x-auth-token'];
    if (typeof token !== 'string' || token === '') return refuse('no X-Auth-Token header');
    try {
      return { lambda: { ...authorizerContext(await tokens.validate(token)) } };
    } catch (error) {
      if (error instanceof InvalidTokenError) return refuse(error.message);
      const why = error instanceof Error ? error.message : String(error);
      return { refusal: errorBody(503, 'keystone_unavailable', `the token could not be validated: ${why}`) };
    }
  };

/**
 * What the handler pipeline (functions/shared/http.ts) enforces on the API routes, enforced here on
 * the fallback's (the simulator API), which has no pipeline of its own: a malformed %-escape in the
 * path, or a body declared as anything but JSON, is a 400 (not a 500 from decodeURIComponent, nor
 * a body parsed regardless). API routes are left to their handlers, so that local tests keep
 * exercising the handlers' own checks, which are what runs in AWS.
 */
const fallbackRefusal = (pathname: string, contentType: string | undefined, body: string): string | undefined => {
  try {
    decodeURIComponent(pathname);
  } catch {
    return 'the path holds a malformed %-escape';
  }
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (body && type && type !== 'application/json') return `content-type must be application/json, not ${type}`;
  return undefined;
};

export const createGateway = (
  routes: Route[],
  authenticate: Authenticator,
  fallback?: (request: IncomingMessage, response: ServerResponse, body: string, identity: Identity) => Promise<boolean>,
) => {
  const compiled = [...routes]
    .sort((a, b) => specificity(b.path) - specificity(a.path))
    .map((route) => ({ ...route, match: compile(route.path) }));

  const handle = async (
    request: IncomingMessage,
    response: ServerResponse,
    reply: (result: APIGatewayProxyStructuredResultV2) => void,
  ): Promise<void> => {
    // A client that went away mid-body leaves no one to answer.
    const body = await readCapped(request).catch(() => null);
    if (body === null) return void response.destroy();
    if (body === undefined)
      return reply(errorBody(413, 'payload_too_large', `request body is over ${GATEWAY_MAX_BODY_BYTES} bytes`));
    let url: URL;
    try {
      url = new URL(request.url ?? '/', 'http://localhost');
    } catch {
      return reply(errorBody(400, 'invalid_request', 'the request target is not a valid URL'));
    }
    // Every route needs a valid token, checked before routing so nothing is revealed without one.
    const auth = await authenticate(request.headers);
    if ('error' in auth) return reply(unauthorized(auth.error));
    if ('refusal' in auth) return reply(auth.refusal);
    if (fallback && !compiled.some((route) => route.match(url.pathname))) {
      const refusal = fallbackRefusal(url.pathname, request.headers['content-type'], body);
      if (refusal) return reply(errorBody(400, 'invalid_request', refusal));
      const identity = 'claims' in auth ? identityFromClaims(auth.claims as never) : identityFromContext(auth.lambda);
      if (await fallback(request, response, body, identity ?? { subject: 'unknown', admin: false })) return;
    }
    const method = (request.method ?? 'GET').toUpperCase();
    const candidates = compiled.map((route) => ({ route, params: route.match(url.pathname) })).filter((c) => c.params);
    const found = candidates.find((c) => c.route.method === method);
    if (!found) {
      if (candidates.length > 0) {
        const allow = candidates.map((c) => c.route.method).join(', ');
        return reply({
          ...errorBody(405, 'method_not_allowed', `${method} is not allowed on ${url.pathname} (allowed: ${allow})`),
          headers: { 'content-type': 'application/json', allow },
        });
      }
      return reply(errorBody(404, 'not_found', `no route for ${method} ${url.pathname}`));
    }
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(request.headers))
      if (value !== undefined) headers[key.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
    const routeKey = `${found.route.method} ${found.route.path}`;
    // Where API Gateway puts what its JWT or Lambda authorizer passed on.
    const authorizer:
      | APIGatewayEventRequestContextJWTAuthorizer
      | APIGatewayEventRequestContextLambdaAuthorizer<unknown> =
      'claims' in auth
        ? { principalId: '', integrationLatency: 0, jwt: { claims: auth.claims as Record<string, string>, scopes: [] } }
        : { lambda: auth.lambda };
    const event: APIGatewayProxyEventV2WithRequestContext<
      APIGatewayEventRequestContextV2WithAuthorizer<typeof authorizer>
    > = {
      version: '2.0',
      routeKey,
      rawPath: url.pathname,
      rawQueryString: url.search.slice(1),
      headers,
      ...(url.search ? { queryStringParameters: Object.fromEntries(url.searchParams) } : {}),
      ...(Object.keys(found.params ?? {}).length ? { pathParameters: found.params } : {}),
      requestContext: {
        authorizer,
        accountId: '000000000000',
        apiId: 'local',
        domainName: headers.host ?? 'localhost',
        domainPrefix: 'local',
        http: {
          method,
          path: url.pathname,
          protocol: 'HTTP/1.1',
          sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
          userAgent: headers['user-agent'] ?? '',
        },
        requestId: randomUUID(),
        routeKey,
        stage: '$default',
        time: new Date().toISOString(),
        timeEpoch: Date.now(),
      },
      ...(body ? { body } : {}),
      isBase64Encoded: false,
    };
    try {
      reply(await found.route.handler(event, lambdaContext(routeKey)));
    } catch {
      reply(errorBody(500, 'internal_error', 'The request could not be completed; it has been logged.'));
    }
  };

  // Nothing may escape this async listener: an unhandled rejection ends the process, and with it
  // the whole local runtime (one client hanging up mid-body used to be enough).
  return async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const reply = (result: APIGatewayProxyStructuredResultV2) => {
      response.writeHead(result.statusCode ?? 200, (result.headers ?? {}) as Record<string, string>);
      response.end(result.body ?? '');
    };
    try {
      await handle(request, response, reply);
    } catch {
      if (response.headersSent || response.destroyed) response.destroy();
      else reply(errorBody(500, 'internal_error', 'The request could not be completed; it has been logged.'));
    }
  };
};

export const lambdaContext = (name: string) => ({
  callbackWaitsForEmptyEventLoop: false,
  functionName: `fenix-local-${name.replace(/\W+/g, '-')}`,
  functionVersion: '$LATEST',
  invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:fenix-local`,
  memoryLimitInMB: '512',
  awsRequestId: randomUUID(),
  logGroupName: '/local/fenix',
  logStreamName: 'local',
  getRemainingTimeInMillis: () => 30_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
});

/** Reads the body, or undefined when it is over the gateway cap (the rest is drained, not cut off). */
const readCapped = (request: IncomingMessage): Promise<string | undefined> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= GATEWAY_MAX_BODY_BYTES) chunks.push(chunk);
    });
    request.on('end', () =>
      resolve(size > GATEWAY_MAX_BODY_BYTES ? undefined : Buffer.concat(chunks).toString('utf8')),
    );
    request.on('error', reject);
  });
