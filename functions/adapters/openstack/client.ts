import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { CloudConfig } from './clouds.js';
import { identityEndpoint } from './keystone-tokens.js';

/**
 * A small OpenStack REST client (there is no maintained Node SDK): Keystone v3 tokens (password or
 * application credential) cached until shortly before they expire and renewed on a 401, endpoints
 * from the token's catalog, microversion headers, and retries with backoff on 5xx, 409 and
 * connection errors. Node's http(s) directly, so `cacert` and `verify` of clouds.yaml apply.
 */

/** A refusal or failure from an OpenStack API, with the service's own message. */
export class OpenStackError extends Error {
  constructor(
    readonly status: number,
    readonly service: string,
    readonly what: string,
    message: string,
  ) {
    super(`${service} ${what}: ${status ? `HTTP ${status} ` : ''}${message}`);
    this.name = 'OpenStackError';
  }
}

export interface Response<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
}

export interface RequestOptions {
  body?: unknown;
  /** `OpenStack-API-Version` value, e.g. `compute 2.88`. */
  microversion?: string;
  /** Statuses answered as they are rather than thrown (e.g. 404 for "gone"). */
  accept?: number[];
  /** Retry on 409 too (actions on a server that is briefly busy); off for reads. */
  retryConflict?: boolean;
}

export interface ClientOptions {
  /** Attempts for one request on 5xx, 409 (when asked) and connection errors. */
  attempts?: number;
  /** First backoff in ms (doubled each retry). */
  backoffMs?: number;
  timeoutMs?: number;
}

type Catalog = { type: string; endpoints: { interface: string; region?: string; region_id?: string; url: string }[] }[];

interface Token {
  value: string;
  expiresAt: number;
  catalog: Catalog;
  userId: string;
  projectId?: string;
}

/** The Keystone error body, Nova's `{"badRequest": {"message"}}`, placement's `{"errors": [{"detail"}]}`. */
const faultOf = (body: unknown): string | undefined => {
  if (!body || typeof body !== 'object') return typeof body === 'string' && body ? body.slice(0, 300) : undefined;
  const record = body as Record<string, unknown>;
  const errors = record.errors;
  if (Array.isArray(errors))
    return errors.map((e) => (e as { detail?: string }).detail ?? JSON.stringify(e)).join('; ');
  for (const value of Object.values(record)) {
    if (value && typeof value === 'object' && typeof (value as { message?: unknown }).message === 'string')
      return (value as { message: string }).message;
  }
  return undefined;
};

const RENEW_BEFORE_MS = 120_000;

export class OpenStackClient {
  private token?: Token;
  private tokenRequest?: Promise<Token>;
  private readonly agent: HttpAgent | HttpsAgent;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly timeoutMs: number;

  constructor(
    readonly cloud: CloudConfig,
    options: ClientOptions = {},
  ) {
    this.attempts = options.attempts ?? 4;
    this.backoffMs = options.backoffMs ?? 500;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    const tls = cloud.auth.auth_url.startsWith('https:');
    // No keep-alive: OpenStack's uwsgi servers often close idle connections under a reused socket.
    this.agent = tls
      ? new HttpsAgent({
          keepAlive: false,
          rejectUnauthorized: cloud.verify !== false,
          ...(cloud.cacert ? { ca: readFileSync(cloud.cacert) } : {}),
        })
      : new HttpAgent({ keepAlive: false });
  }

  /** A current token (renewed when close to expiry): what `openstack token issue` gives. */
  async authToken(): Promise<string> {
    return (await this.currentToken()).value;
  }

  /** The user the token belongs to. */
  async userId(): Promise<string> {
    return (await this.currentToken()).userId;
  }

  /** The project the token is scoped to (the admin's own project, or a tenant's). */
  async projectId(): Promise<string | undefined> {
    return (await this.currentToken()).projectId;
  }

  /** A request to a service of the catalog (`compute`, `placement`, `identity`) by path. */
  async request<T>(service: string, method: string, path: string, options: RequestOptions = {}): Promise<Response<T>> {
    let renewed = false;
    for (;;) {
      const token = await this.currentToken();
      const url = `${this.endpoint(token, service)}${path}`;
      const response = await this.send<T>(service, method, url, path, {
        ...options,
        headers: {
          'x-auth-token': token.value,
          ...(options.microversion ? { 'openstack-api-version': options.microversion } : {}),
        },
      });
      if (response.status === 401 && !renewed) {
        // Revoked or expired early: one new token, then the request again.
        renewed = true;
        this.token = undefined;
        continue;
      }
      if (response.status < 400 || options.accept?.includes(response.status)) return response;
      throw new OpenStackError(response.status, service, `${method} ${path}`, faultOf(response.body) ?? 'no message');
    }
  }

  /** An endpoint by its catalog URL prefix (`/` of compute for version discovery). */
  async serviceUrl(service: string): Promise<string> {
    return this.endpoint(await this.currentToken(), service);
  }

  private endpoint(token: Token, service: string): string {
    const wanted = this.cloud.interface ?? 'public';
    const region = this.cloud.region_name;
    const entry = token.catalog.find((item) => item.type === service);
    const endpoint = entry?.endpoints.find(
      (e) => e.interface === wanted && (!region || e.region === region || e.region_id === region),
    );
    if (!endpoint)
      throw new OpenStackError(
        0,
        'keystone',
        'catalog',
        `no ${wanted} ${service} endpoint${region ? ` in region ${region}` : ''} in the catalog`,
      );
    return endpoint.url.replace(/\/+$/, '');
  }

  private async currentToken(): Promise<Token> {
    if (this.token && this.token.expiresAt - Date.now() > RENEW_BEFORE_MS) return this.token;
    // One token request at a time, shared by every caller waiting for it.
    this.tokenRequest ??= this.issueToken().finally(() => {
      this.tokenRequest = undefined;
    });
    this.token = await this.tokenRequest;
    return this.token;
  }

  private async issueToken(): Promise<Token> {
    const { auth } = this.cloud;
    const appCredential = auth.application_credential_id || auth.application_credential_name;
    const domain = (name?: string, id?: string) => (id ? { id } : { name: name ?? 'Default' });
    const identity = appCredential
      ? {
          methods: ['application_credential'],
          application_credential: auth.application_credential_id
            ? { id: auth.application_credential_id, secret: auth.application_credential_secret }
            : {
                name: auth.application_credential_name,
                secret: auth.application_credential_secret,
                user: auth.user_id
                  ? { id: auth.user_id }
                  : { name: auth.username, domain: domain(auth.user_domain_name, auth.user_domain_id) },
              },
        }
      : {
          methods: ['password'],
          password: {
            user: auth.user_id
              ? { id: auth.user_id, password: auth.password }
              : {
                  name: auth.username,
                  password: auth.password,
                  domain: domain(auth.user_domain_name, auth.user_domain_id),
                },
          },
        };
    // Application credentials carry their own scope; a password token is scoped to the project.
    const scope =
      appCredential || !(auth.project_id || auth.project_name)
        ? undefined
        : {
            project: auth.project_id
              ? { id: auth.project_id }
              : { name: auth.project_name, domain: domain(auth.project_domain_name, auth.project_domain_id) },
          };
    const url = `${identityEndpoint(auth.auth_url)}/auth/tokens`;
    const response = await this.send<{
      token: { expires_at: string; catalog?: Catalog; user: { id: string }; project?: { id: string } };
    }>('keystone', 'POST', url, '/v3/auth/tokens', {
      body: { auth: { identity, ...(scope ? { scope } : {}) } },
    });
    const value = response.headers['x-subject-token'];
    if (response.status !== 201 || typeof value !== 'string') {
      throw new OpenStackError(
        response.status,
        'keystone',
        'authentication',
        `${faultOf(response.body) ?? 'no token issued'} (auth_url ${auth.auth_url}, user ${auth.username ?? auth.user_id ?? auth.application_credential_id ?? auth.application_credential_name})`,
      );
    }
    const { token } = response.body;
    return {
      value,
      expiresAt: Date.parse(token.expires_at),
      catalog: token.catalog ?? [],
      userId: token.user.id,
      ...(token.project ? { projectId: token.project.id } : {}),
    };
  }

  /** One HTTP exchange with retries on 5xx, 409 (when asked) and connection errors. */
  private async send<T>(
    service: string,
    method: string,
    url: string,
    what: string,
    options: RequestOptions & { headers?: Record<string, string> },
  ): Promise<Response<T>> {
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      if (attempt > 1) await new Promise((done) => setTimeout(done, this.backoffMs * 2 ** (attempt - 2)));
      try {
        const response = await this.exchange<T>(method, url, options);
        const retryable = response.status >= 500 || (response.status === 409 && options.retryConflict);
        if (!retryable || attempt === this.attempts) return response;
        lastError = new OpenStackError(response.status, service, `${method} ${what}`, faultOf(response.body) ?? '');
      } catch (error) {
        lastError = error;
      }
    }
    const cause = lastError instanceof Error ? lastError.message : String(lastError);
    throw new OpenStackError(0, service, `${method} ${what}`, `unreachable after ${this.attempts} attempts: ${cause}`);
  }

  private exchange<T>(
    method: string,
    url: string,
    options: RequestOptions & { headers?: Record<string, string> },
  ): Promise<Response<T>> {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const send = url.startsWith('https:') ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const request = send(
        url,
        {
          method,
          agent: this.agent,
          timeout: this.timeoutMs,
          headers: {
            accept: 'application/json',
            ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
            ...options.headers,
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown = text;
            try {
              body = text ? JSON.parse(text) : undefined;
            } catch {
              // Not JSON (an HTML error page from a proxy): kept as text for the message.
            }
            resolve({ status: response.statusCode ?? 0, headers: response.headers, body: body as T });
          });
        },
      );
      request.on('timeout', () => request.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      request.on('error', reject);
      request.end(payload);
    });
  }
}
