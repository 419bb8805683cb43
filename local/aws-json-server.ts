import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An AWS JSON-protocol error: `__type` is what the SDK turns into the error's name. */
export class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export type Operations = Record<string, (input: Record<string, unknown>) => Promise<unknown> | unknown>;

const readBody = (request: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });

/**
 * A tiny server for the AWS JSON protocol (what SDK v3 speaks to SFN and EventBridge): `POST /` with
 * `X-Amz-Target: <Service>.<Operation>`. The SDK reaches it through AWS_ENDPOINT_URL_<SERVICE>.
 */
export const startAwsJsonServer = async (
  service: string,
  operations: Operations,
): Promise<{ server: Server; url: string }> => {
  const server = createServer(async (request, response) => {
    const target = String(request.headers['x-amz-target'] ?? '');
    const operation = target.slice(target.indexOf('.') + 1);
    const send = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
      response.end(JSON.stringify(body));
    };
    try {
      const run = operations[operation];
      if (!run) throw new AwsError('UnknownOperationException', `${service} shim does not implement ${operation}`);
      const body = await readBody(request);
      send(200, (await run(body ? JSON.parse(body) : {})) ?? {});
    } catch (error) {
      if (error instanceof AwsError) send(error.status, { __type: error.type, message: error.message });
      else send(500, { __type: 'InternalFailure', message: error instanceof Error ? error.message : String(error) });
    }
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
};
