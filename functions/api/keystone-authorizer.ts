import type { APIGatewayRequestAuthorizerEventV2, APIGatewaySimpleAuthorizerWithContextResult } from 'aws-lambda';
import { InvalidTokenError, KeystoneTokens } from '../adapters/openstack/keystone-tokens.js';
import { type AuthorizerContext, authorizerContext } from '../shared/auth.js';
import { logger } from '../shared/observability.js';

type Validator = Pick<KeystoneTokens, 'validate'>;

/**
 * The HTTP API's Lambda REQUEST authorizer with `auth: "keystone"` (identity source
 * `$request.header.X-Auth-Token`, simple responses): validates the token against Keystone and hands
 * `{subject, admin, project}` on as the context, which the routes read back with `identityOf`.
 *
 * How API Gateway answers the caller: a valid token is authorized (and the answer cached for the
 * token, up to 300 s); a token Keystone refuses makes this throw `Unauthorized`, which API Gateway
 * answers with 401 (as it does when the header is missing) and never caches; Keystone being
 * unavailable throws anything else, which API Gateway answers with 500: in no case is the request let
 * through without Keystone's word.
 */
export const makeHandler =
  (tokens: Validator) =>
  async (
    event: APIGatewayRequestAuthorizerEventV2,
  ): Promise<APIGatewaySimpleAuthorizerWithContextResult<AuthorizerContext>> => {
    const token = event.identitySource?.[0] ?? event.headers?.['x-auth-token'];
    if (!token) throw new Error('Unauthorized');
    try {
      const identity = await tokens.validate(token);
      return { isAuthorized: true, context: authorizerContext(identity) };
    } catch (error) {
      if (error instanceof InvalidTokenError) {
        logger.info('keystone token refused', { reason: error.message, routeKey: event.routeKey });
        throw new Error('Unauthorized');
      }
      logger.error('keystone token could not be validated', { error: error as Error, routeKey: event.routeKey });
      throw error;
    }
  };

/** Built on first use: a missing FENIX_KEYSTONE_URL fails the invocation with a clear message. */
let tokens: KeystoneTokens | undefined;
const keystone = (): KeystoneTokens => {
  const url = process.env.FENIX_KEYSTONE_URL;
  if (!url) throw new Error('environment variable FENIX_KEYSTONE_URL is not set');
  tokens ??= new KeystoneTokens({ url });
  return tokens;
};

export const handler = makeHandler({ validate: (token) => keystone().validate(token) });
