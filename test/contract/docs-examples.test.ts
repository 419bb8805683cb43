import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import { afterAll, describe, expect, it } from 'vitest';
import { startMinimalVnfm } from '../../docs/examples/minimal-vnfm.js';
import { CrossAccountSubscription, ReceivingBus, WebhookSubscription } from '../../docs/examples/subscriptions.js';
import { fenixTimeIn, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

/** The code shown in docs/vnfm-guide.md works: the CDK subscriptions synthesize, the minimal VNFM completes a session. */

const PATTERN = { source: ['fenix'], 'detail-type': ['maintenance.scheduled'], detail: { project_id: ['vnf-a'] } };

describe('docs/examples/subscriptions.ts', () => {
  const app = new App();
  const fenix = new Stack(app, 'Fenix', { env: { account: '111122223333', region: 'eu-west-1' } });
  const bus = events.EventBus.fromEventBusArn(
    fenix,
    'FenixBus',
    'arn:aws:events:eu-west-1:111122223333:event-bus/FenixDataBus',
  );
  new CrossAccountSubscription(fenix, 'VnfA', {
    bus,
    projectId: 'vnf-a',
    targetBusArn: 'arn:aws:events:eu-west-1:222233334444:event-bus/maintenance',
  });
  new WebhookSubscription(fenix, 'VnfAWebhook', {
    bus,
    projectId: 'vnf-a',
    url: 'https://vnfm-a.example.com/maintenance',
    apiKeySecretName: 'vnf-a/webhook-key',
  });
  const vnfm = new Stack(app, 'Vnfm', { env: { account: '222233334444', region: 'eu-west-1' } });
  new ReceivingBus(vnfm, 'Receiving', { fenixAccount: '111122223333' });
  const template = Template.fromStack(fenix);

  const rules = () => Object.values(template.findResources('AWS::Events::Rule')).map((r) => r.Properties);

  it('cross-account: a rule on the Fenix bus with the project pattern, targeting the other bus through a role', () => {
    const rule = rules().find(
      (r) => r.Targets[0].Arn === 'arn:aws:events:eu-west-1:222233334444:event-bus/maintenance',
    );
    expect(rule).toMatchObject({ EventBusName: 'FenixDataBus', EventPattern: PATTERN });
    expect(rule?.Targets[0].RoleArn).toEqual({ 'Fn::GetAtt': [expect.any(String), 'Arn'] });
  });

  it('webhook: an API destination (POST, API key connection) with retries and a dead-letter queue', () => {
    template.hasResourceProperties('AWS::Events::ApiDestination', {
      HttpMethod: 'POST',
      InvocationEndpoint: 'https://vnfm-a.example.com/maintenance',
    });
    template.hasResourceProperties('AWS::Events::Connection', { AuthorizationType: 'API_KEY' });
    const rule = rules().find((r) => r.Targets[0].RetryPolicy);
    expect(rule).toMatchObject({ EventBusName: 'FenixDataBus', EventPattern: PATTERN });
    expect(rule?.Targets[0]).toMatchObject({
      RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 },
      DeadLetterConfig: { Arn: expect.any(Object) },
    });
  });

  it('receiving bus: open to PutEvents from the Fenix account', () => {
    Template.fromStack(vnfm).hasResourceProperties('AWS::Events::EventBusPolicy', {
      Statement: {
        Effect: 'Allow',
        Action: 'events:PutEvents',
        Principal: { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::111122223333:root']] } },
      },
    });
  });
});

describe('docs/examples/minimal-vnfm.ts', () => {
  let t: TestRuntime | undefined;
  let vnfm: Awaited<ReturnType<typeof startMinimalVnfm>> | undefined;
  afterAll(async () => {
    await vnfm?.stop();
    await t?.stop();
  });

  it('answers every round of a session, which ends MAINTENANCE_DONE', async () => {
    const lines: string[] = [];
    // The runtime reads the VNFM's URL at start, the VNFM needs the runtime's: agree on a port first.
    const port = await freePort();
    t = await startTestRuntime({
      inventory: {
        hosts: [
          { name: 'compute-1', type: 'compute', vcpus: 4 },
          { name: 'compute-2', type: 'compute', vcpus: 4 },
        ],
        instances: [{ name: 'web-0', project_id: 'shop', host: 'compute-1', vcpus: 2 }],
      },
      subscriptions: [
        {
          pattern: { source: ['fenix'], 'detail-type': ['maintenance.scheduled'], detail: { project_id: ['shop'] } },
          url: `http://127.0.0.1:${port}/`,
        },
      ],
    });
    vnfm = await startMinimalVnfm({
      fenixUrl: t.url,
      projectId: 'shop',
      token: await t.token({ project: 'shop' }),
      port,
      log: (line) => lines.push(line),
    });
    const created = await t.api('POST', '/v1/maintenance', {
      state: 'MAINTENANCE',
      maintenance_at: fenixTimeIn(4),
      hosts: [],
    });
    expect(created.status).toBe(200);
    const id = created.body.session_id as string;
    await t.waitForState(id, 'MAINTENANCE_DONE');
    expect(lines).toEqual([
      `${id}: ACK_MAINTENANCE`,
      `${id}: ACK_PLANNED_MAINTENANCE with MIGRATE for 1 instance(s)`,
      expect.stringMatching(new RegExp(`^${id}: Fenix moved [0-9a-f-]{36}$`)),
      `${id}: ACK_MAINTENANCE_COMPLETE`,
    ]);
  });
});

const freePort = async (): Promise<number> => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
};
