import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import * as z from 'zod';
import {
  ConflictError,
  DomainError,
  ForbiddenError,
  NotFoundError,
  NotReadyError,
  PayloadTooLargeError,
  UnauthorizedError,
  ValidationError,
} from '../core/errors.js';
import { describeIssues } from '../core/schemas.js';
import { type Access, authorize, type Identity } from './auth.js';
import { parseStrictJson } from './json.js';
import { logger } from './observability.js';

/** Request bodies above this are refused with 413 before they are parsed. */
export const MAX_BODY_BYTES = 256 * 1024;

export type HttpResult = APIGatewayProxyStructuredResultV2;

export const json = (statusCode: number, body: unknown): HttpResult => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

const STATUS: [new (...args: never[]) => DomainError, number][] = [
  [ValidationError, 400],
  [UnauthorizedError, 401],
  [ForbiddenError, 403],
  [NotFoundError, 404],
  [ConflictError, 409],
  [NotReadyError, 409],
  [PayloadTooLargeError, 413],
];

/** The one error mapper: domain errors keep their message; anything else is a 500 that leaks nothing. */
export const errorResponse = (error: unknown): HttpResult => {
  if (error instanceof DomainError) {
    const status = STATUS.find(([type]) => error instanceof type)?.[1] ?? 400;
    const headers: Record<string, string> = status === 401 ? { 'www-authenticate': 'Bearer' } : {};
    if (error instanceof NotReadyError) headers['retry-after'] = String(error.retryAfterSeconds);
    const response = json(status, { error: error.code, message: error.message });
    return { ...response, headers: { ...response.headers, ...headers } };
  }
  logger.error('unhandled error', { error: error as Error });
  return json(500, { error: 'internal_error', message: 'The request could not be completed; it has been logged.' });
};

export interface Request<P, B, Q = Record<string, never>> {
  params: P;
  body: B;
  query: Q;
  identity: Identity;
  event: APIGatewayProxyEventV2;
}

interface RouteSpec<P extends z.ZodType, B extends z.ZodType | undefined, Q extends z.ZodType | undefined> {
  /** Who may call the route: `admin` only, or admin and the project named in the path. */
  access: Access;
  params: P;
  body?: B;
  /** Query string parameters; without a schema, any query string is refused. */
  query?: Q;
}

const noQuery = z.strictObject({});

/** The JSON body: absent → undefined; otherwise it must be JSON, within the cap, without duplicate keys. */
const readBody = (event: APIGatewayProxyEventV2): unknown => {
  if (event.body === undefined || event.body === null || event.body === '') return undefined;
  const raw = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  if (Buffer.byteLength(raw) > MAX_BODY_BYTES) {
    throw new PayloadTooLargeError(`request body is over ${MAX_BODY_BYTES} bytes`);
  }
  const type = (event.headers?.['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type && type !== 'application/json') {
    throw new ValidationError(`content-type must be application/json, not ${type}`);
  }
  return parseStrictJson(raw);
};

const validate = <T extends z.ZodType>(schema: T, value: unknown, what: string): z.infer<T> => {
  const result = schema.safeParse(value);
  if (!result.success) {
    const message = describeIssues(result.error);
    throw new ValidationError(what === 'body' ? message : `${message}`);
  }
  return result.data;
};

/**
 * Every API route is built here, so the pipeline is the same everywhere: structured logging, then
 * authentication/authorization, body cap and strict JSON, zod validation of path and body, the
 * use case, and one error mapper. Handlers stay a few lines over the domain core.
 */
export const httpHandler = <
  P extends z.ZodType,
  B extends z.ZodType | undefined,
  Q extends z.ZodType | undefined = undefined,
>(
  spec: RouteSpec<P, B, Q>,
  run: (
    request: Request<
      z.infer<P>,
      B extends z.ZodType ? z.infer<B> : undefined,
      Q extends z.ZodType ? z.infer<Q> : Record<string, never>
    >,
  ) => Promise<HttpResult>,
) =>
  middy<APIGatewayProxyEventV2, HttpResult, Error, Context>({ timeoutEarlyInMillis: 0 })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .handler(async (event) => {
      try {
        const rawParams = event.pathParameters ?? {};
        const identity = authorize(event, spec.access, rawParams);
        const params = validate(spec.params, rawParams, 'path');
        if (typeof (params as { session_id?: unknown }).session_id === 'string') {
          logger.appendKeys({ session_id: (params as { session_id: string }).session_id });
        }
        const query = validate(spec.query ?? noQuery, event.queryStringParameters ?? {}, 'query');
        const rawBody = readBody(event);
        // No body reads as `{}`; a JSON `null` is a body, and not an object.
        const body = spec.body ? validate(spec.body, rawBody === undefined ? {} : rawBody, 'body') : undefined;
        if (!spec.body && rawBody !== undefined) throw new ValidationError('this request takes no body');
        return await run({ params, body: body as never, query: query as never, identity, event });
      } catch (error) {
        return errorResponse(error);
      }
    });
