import { CfnOutput, Duration, Fn, Names, Stack, Validations } from 'aws-cdk-lib';
import type { IHttpRouteAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  HttpJwtAuthorizer,
  HttpLambdaAuthorizer,
  HttpLambdaResponseType,
} from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { checkFunctionVpc, type FunctionVpc, placeInVpc, vpcAccessPolicy } from './function-vpc.js';
import { ServiceFunction } from './service-function.js';

/** Scope names the routes require (and the handlers check again). */
export const ADMIN_SCOPE = 'fenix/admin';
export const PROJECT_SCOPE = 'fenix/project';

/** The scope naming one project: `fenix/project.<id>` (functions/shared/auth.ts reads it back). */
export const projectScope = (projectId: string): string => `${PROJECT_SCOPE}.${projectId}`;

/** Project ids as the API accepts them (functions/core/schemas.ts), which Cognito scope names also allow. */
const PROJECT_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$/;
/**
 * Cognito allows 100 custom scopes per resource server; `admin` and `project` take two. More
 * projects than this need an external OIDC issuer (or tokens carrying a `fenix:project_id` claim).
 */
export const MAX_PROJECT_CLIENTS = 98;

/** An existing OpenID Connect issuer used instead of the built-in user pool. */
export interface OidcIssuer {
  /** Issuer URL, exactly as in the tokens' `iss` claim (its JWKS must be public). */
  readonly issuerUrl: string;
  /** Accepted `aud` values (or `client_id`, when a token has no `aud`). */
  readonly audience: string[];
}

/** Keystone tokens (`X-Auth-Token`) instead of JWTs, validated by a Lambda authorizer (DESIGN §13). */
export interface KeystoneIdentity {
  /** Keystone's identity endpoint, https (e.g. `https://keystone.example.com:5000/v3`). */
  readonly url: string;
  /**
   * Subnets and security groups for the authorizer function, when Keystone is reachable only from
   * inside a VPC (the subnets need a route to Keystone; the groups must allow the egress).
   * @default - the function runs outside any VPC
   */
  readonly vpc?: KeystoneVpc;
}

/** Where the authorizer function runs, when Keystone is private (see FunctionVpc). */
export type KeystoneVpc = FunctionVpc;

/** The authorizer's cache of one token's answer: Keystone tokens are trusted 5 minutes at most. */
export const KEYSTONE_AUTHORIZER_CACHE = Duration.seconds(300);

export interface ApiAuthProps {
  /**
   * Trust an existing OIDC issuer. Its access tokens must carry the scopes
   * `fenix/admin` (admins) or `fenix/project` (VNFMs) in `scope`/`scp`.
   * @default - a Cognito user pool with an admin machine client is created
   */
  readonly oidc?: OidcIssuer;
  /**
   * One machine client per project (VNFM), built-in user pool only: for each id, a scope
   * `fenix/project.<id>` on the resource server and a client-credentials app client allowed the
   * scopes `fenix/project` and `fenix/project.<id>`, whose id joins the authorizer's audience and
   * a stack output `ProjectClientId<Id>`. A token from that client names its project through the
   * scope, so no pre-token-generation trigger is needed. The client must request both scopes (or
   * none, which grants both): the routes require `fenix/project`, the handlers read the project
   * from `fenix/project.<id>`.
   * @default - no project clients
   */
  readonly projects?: string[];
  /**
   * Accept Keystone tokens in `X-Auth-Token` instead of JWTs: a Lambda REQUEST authorizer validates
   * them against Keystone; admin = role `admin`, a project token acts for its project only.
   * @default - JWTs (Cognito, or `oidc`)
   */
  readonly keystone?: KeystoneIdentity;
}

/**
 * Who may call the API: the JWT authorizer plus, by default, a Cognito user
 * pool to issue the tokens (machine clients only, no self sign-up), so that a
 * bare `cdk deploy` yields a working authenticated API. Or, with `keystone`,
 * a Lambda authorizer over Keystone tokens.
 */
export class ApiAuth extends Construct {
  readonly authorizer: IHttpRouteAuthorizer;
  /** `jwt`: routes also require scopes at the gateway; `keystone`: the handlers alone check the rights. */
  readonly mode: 'jwt' | 'keystone';
  /** JWT issuer (not with Keystone). */
  readonly issuerUrl?: string;
  readonly audience: string[] = [];
  /** Only with Keystone: the function behind the Lambda authorizer. */
  readonly keystoneAuthorizer?: lambda.IFunction;
  private readonly keystoneUrl?: string;
  /** Only with the built-in user pool. */
  readonly userPool?: cognito.UserPool;
  readonly adminClient?: cognito.UserPoolClient;
  /** Project id → its machine client (built-in user pool only). */
  readonly projectClients: Record<string, cognito.UserPoolClient> = {};
  readonly tokenEndpoint?: string;

  constructor(scope: Construct, id: string, props: ApiAuthProps = {}) {
    super(scope, id);

    const projects = checkProjects(props.projects ?? []);
    if (props.keystone) {
      if (props.oidc || projects.length > 0) {
        throw new Error(
          'keystone replaces the JWT issuer: it takes neither oidc nor projects (Keystone has the projects)',
        );
      }
      const keystone = checkKeystone(props.keystone);
      this.mode = 'keystone';
      this.keystoneUrl = keystone.url;
      const fn = new ServiceFunction(this, 'KeystoneAuthorizerFunction', {
        entry: 'functions/api/keystone-authorizer.ts',
        description: 'Fenix Lambda authorizer: validates X-Auth-Token against Keystone',
        // Keystone gets 4 s per token (keystone-tokens.ts); API Gateway waits 10 s for an authorizer.
        timeout: Duration.seconds(10),
        memorySize: 256,
        environment: { FENIX_KEYSTONE_URL: keystone.url },
      });
      if (keystone.vpc) placeInVpc(fn, keystone.vpc, vpcAccessPolicy(this, 'KeystoneAuthorizerVpcAccess'));
      this.keystoneAuthorizer = fn.function;
      this.authorizer = new HttpLambdaAuthorizer('KeystoneAuthorizer', fn.function, {
        identitySource: ['$request.header.X-Auth-Token'],
        responseTypes: [HttpLambdaResponseType.SIMPLE],
        resultsCacheTtl: KEYSTONE_AUTHORIZER_CACHE,
      });
      return;
    }
    this.mode = 'jwt';
    if (props.oidc) {
      if (projects.length > 0) {
        throw new Error(
          'projects creates Cognito machine clients; with an external OIDC issuer, create the project clients there',
        );
      }
      if (!props.oidc.issuerUrl.startsWith('https://')) {
        throw new Error('oidc.issuerUrl must be an https:// URL');
      }
      if (props.oidc.audience.length === 0) {
        throw new Error('oidc.audience must list at least one audience');
      }
      this.issuerUrl = props.oidc.issuerUrl;
      this.audience = props.oidc.audience;
    } else {
      const pool = new cognito.UserPool(this, 'UserPool', {
        selfSignUpEnabled: false,
        signInAliases: { username: true },
        // Only machine clients use this pool today; should people be added,
        // they get a strong password policy from the start.
        passwordPolicy: {
          minLength: 14,
          requireDigits: true,
          requireLowercase: true,
          requireUppercase: true,
          requireSymbols: true,
        },
        accountRecovery: cognito.AccountRecovery.NONE,
        // Essentials (the default plan) is needed should machine tokens ever get
        // a project claim from a pre-token-generation trigger; no users, no MAU cost.
        featurePlan: cognito.FeaturePlan.ESSENTIALS,
      });
      Validations.of(pool).acknowledge({
        id: 'AwsSolutions-COG2',
        reason:
          'No human users: only OAuth client-credentials clients, which MFA does not apply to; self sign-up is disabled',
      });
      Validations.of(pool).acknowledge({
        id: 'AwsSolutions-COG3',
        reason:
          'Threat protection evaluates user sign-ins; this pool only issues client-credentials tokens to machine clients',
      });
      Validations.of(pool).acknowledge({
        id: 'AwsSolutions-COG8',
        reason:
          'The Plus plan only adds threat protection for user sign-ins; this pool has no users, only machine clients',
      });

      const server = pool.addResourceServer('ResourceServer', {
        identifier: 'fenix',
        scopes: [
          new cognito.ResourceServerScope({ scopeName: 'admin', scopeDescription: 'Fenix administrator' }),
          new cognito.ResourceServerScope({ scopeName: 'project', scopeDescription: 'Fenix project (VNFM)' }),
          ...projects.map(
            (project) =>
              new cognito.ResourceServerScope({
                scopeName: `project.${project}`,
                scopeDescription: `Fenix project ${project}`,
              }),
          ),
        ],
      });

      const adminClient = pool.addClient('AdminClient', {
        generateSecret: true,
        oAuth: {
          flows: { clientCredentials: true },
          scopes: [cognito.OAuthScope.custom(ADMIN_SCOPE)],
        },
        accessTokenValidity: Duration.hours(1),
        preventUserExistenceErrors: true,
      });
      adminClient.node.addDependency(server);

      for (const project of projects) {
        const client = pool.addClient(`ProjectClient-${project}`, {
          generateSecret: true,
          oAuth: {
            flows: { clientCredentials: true },
            scopes: [cognito.OAuthScope.custom(PROJECT_SCOPE), cognito.OAuthScope.custom(projectScope(project))],
          },
          accessTokenValidity: Duration.hours(1),
          preventUserExistenceErrors: true,
        });
        client.node.addDependency(server);
        this.projectClients[project] = client;
        const output = new CfnOutput(this, `ProjectClientIdOutput-${project}`, {
          value: client.userPoolClientId,
          description: `Client-credentials client of project ${project} (scopes ${PROJECT_SCOPE} ${projectScope(project)}); read its secret from DescribeUserPoolClient`,
        });
        output.overrideLogicalId(projectOutputId(project));
      }

      // The hosted domain serves /oauth2/token. Prefixes are global per
      // Region, so the account id plus a hash of this construct's path keep it
      // unique across accounts and across stages in one account.
      const domain = pool.addDomain('Domain', {
        cognitoDomain: {
          domainPrefix: `fenix-${Stack.of(this).account}-${Names.uniqueId(this).slice(-8).toLowerCase()}`,
        },
      });

      this.userPool = pool;
      this.adminClient = adminClient;
      this.tokenEndpoint = `${domain.baseUrl()}/oauth2/token`;
      this.issuerUrl = pool.userPoolProviderUrl;
      // Cognito access tokens have no `aud`; the HTTP API authorizer then
      // matches `client_id` against this list.
      this.audience = [
        adminClient.userPoolClientId,
        ...Object.values(this.projectClients).map((client) => client.userPoolClientId),
      ];
    }

    this.authorizer = new HttpJwtAuthorizer('JwtAuthorizer', this.issuerUrl, {
      jwtAudience: this.audience,
    });
  }

  /**
   * What the handlers need to know about the authorizer. Claims arrive in
   * `event.requestContext.authorizer.jwt.claims` (and the scopes, split, in
   * `event.requestContext.authorizer.jwt.scopes`).
   */
  get environment(): Record<string, string> {
    if (this.mode === 'keystone') return { AUTH_MODE: 'keystone', AUTH_KEYSTONE_URL: this.keystoneUrl ?? '' };
    return {
      AUTH_MODE: 'jwt',
      AUTH_ISSUER: this.issuerUrl ?? '',
      AUTH_AUDIENCE: Fn.join(',', this.audience),
      AUTH_ADMIN_SCOPE: ADMIN_SCOPE,
      AUTH_PROJECT_SCOPE: PROJECT_SCOPE,
    };
  }
}

/** `ProjectClientId<Id>`: the output naming a project's client id (letters and digits of the id). */
export const projectOutputId = (project: string): string => `ProjectClientId${project.replace(/[^A-Za-z0-9]/g, '')}`;

/** Valid, distinct ids whose output names do not collide, within Cognito's scope quota. */
const checkProjects = (projects: string[]): string[] => {
  for (const project of projects) {
    if (typeof project !== 'string' || !PROJECT_ID.test(project)) {
      throw new Error(
        `projects: "${project}" is not a project id (letters, digits and . _ : @ -, starting with a letter or digit, at most 64)`,
      );
    }
  }
  if (projects.length > MAX_PROJECT_CLIENTS) {
    throw new Error(
      `projects: at most ${MAX_PROJECT_CLIENTS} (Cognito allows 100 scopes per resource server), got ${projects.length}`,
    );
  }
  const outputs = new Map<string, string>();
  for (const project of projects) {
    const clash = outputs.get(projectOutputId(project));
    if (clash !== undefined) {
      throw new Error(
        clash === project
          ? `projects: "${project}" is listed twice`
          : `projects: "${clash}" and "${project}" would share the output ${projectOutputId(project)}`,
      );
    }
    outputs.set(projectOutputId(project), project);
  }
  return projects;
};

/**
 * The Keystone settings from CDK context (`auth`, `keystoneUrl`, `keystoneVpc`), checked at synth:
 * undefined unless `auth` is `keystone`; `keystoneUrl` and `keystoneVpc` only with it.
 */
export const keystoneFromContext = (context: {
  auth?: unknown;
  keystoneUrl?: unknown;
  keystoneVpc?: unknown;
}): KeystoneIdentity | undefined => {
  const auth = context.auth ?? 'jwt';
  if (auth !== 'jwt' && auth !== 'keystone')
    throw new Error(`context auth must be "jwt" or "keystone", not ${JSON.stringify(auth)}`);
  if (auth === 'jwt') {
    if (context.keystoneUrl !== undefined || context.keystoneVpc !== undefined)
      throw new Error('context keystoneUrl and keystoneVpc need auth=keystone');
    return undefined;
  }
  if (typeof context.keystoneUrl !== 'string' || context.keystoneUrl === '')
    throw new Error('context auth=keystone needs keystoneUrl, the https:// URL of Keystone (…/v3)');
  const rawVpc = typeof context.keystoneVpc === 'string' ? JSON.parse(context.keystoneVpc) : context.keystoneVpc;
  return checkKeystone({ url: context.keystoneUrl, ...(rawVpc !== undefined ? { vpc: rawVpc as KeystoneVpc } : {}) });
};

/** An https URL with no credentials, query or fragment; VPC ids that look like ids. */
const checkKeystone = (keystone: KeystoneIdentity): KeystoneIdentity => {
  let url: URL;
  try {
    url = new URL(keystone.url);
  } catch {
    throw new Error(`keystoneUrl "${keystone.url}" is not a URL`);
  }
  if (url.protocol !== 'https:') throw new Error(`keystoneUrl must be an https:// URL, got "${keystone.url}"`);
  if (url.username || url.password || url.search || url.hash)
    throw new Error('keystoneUrl must not carry credentials, a query or a fragment');
  const vpc = keystone.vpc === undefined ? undefined : checkFunctionVpc(keystone.vpc, 'keystoneVpc');
  return { url: url.href.replace(/\/+$/, ''), ...(vpc ? { vpc } : {}) };
};
