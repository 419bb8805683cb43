import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { EventSchemas, schemaName } from '../../infra/constructs/event-schemas.js';
import { DataStack } from '../../infra/stacks/data-stack.js';
import { ServiceStack } from '../../infra/stacks/service-stack.js';
import { ajvDraft4, problems } from '../contract/validators.js';

/**
 * The EventBridge schema registry the service stack creates: one registry, one draft-4 schema per
 * detail-type, each accepting a real event and refusing a wrong one. And the GET /v1/openapi.json
 * route, open to admin and project tokens, with no access to the table.
 */

type Resource = { Type: string; Properties: Record<string, any> };

const DETAIL_TYPES = ['maintenance.scheduled', 'maintenance.host', 'maintenance.session'] as const;
const SESSION = '3f8c8a4e-6b1f-4d8e-9a53-2f6c1b9d7e10';
const envelope = (detailType: string, detail: Record<string, unknown>) => ({
  version: '0',
  id: 'b1f6d8c2-0000-4000-8000-000000000001',
  'detail-type': detailType,
  source: 'fenix',
  account: '123456789012',
  time: '2030-01-01T00:00:00Z',
  region: 'eu-west-1',
  resources: [],
  detail,
});
const SAMPLES: Record<(typeof DETAIL_TYPES)[number], ReturnType<typeof envelope>> = {
  'maintenance.scheduled': envelope('maintenance.scheduled', {
    service: 'fenix',
    session_id: SESSION,
    project_id: 'vnf-a',
    state: 'PLANNED_MAINTENANCE',
    instance_ids: `https://api.example.com/v1/maintenance/${SESSION}/vnf-a`,
    reply_url: `https://api.example.com/v1/maintenance/${SESSION}/vnf-a`,
    allowed_actions: ['MIGRATE', 'LIVE_MIGRATE', 'OWN_ACTION', 'EVICTION'],
    actions_at: '2030-01-01 00:00:20',
    reply_at: '2030-01-01 00:00:20',
    metadata: { openstack_version: 'Z' },
    event_seq: 7,
  }),
  'maintenance.host': envelope('maintenance.host', {
    service: 'fenix',
    session_id: SESSION,
    host: 'compute-1',
    state: 'IN_MAINTENANCE',
    event_seq: 8,
  }),
  'maintenance.session': envelope('maintenance.session', {
    service: 'fenix',
    session_id: SESSION,
    state: 'START_MAINTENANCE',
    previous_state: 'PREPARE_MAINTENANCE',
    percent_done: 25,
    event_seq: 9,
  }),
};

let resources: Record<string, Resource>;
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

beforeAll(() => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const data = new DataStack(app, 'FenixData');
  const service = new ServiceStack(app, 'FenixService', {
    table: data.table,
    bus: data.bus,
  });
  resources = Template.fromStack(service).toJSON().Resources;
});

describe('event schema registry', () => {
  it('is one registry with one JSONSchemaDraft4 schema per detail-type, named fenix@<detail-type>', () => {
    const registries = ofType('AWS::EventSchemas::Registry');
    expect(registries).toHaveLength(1);
    const [registryId] = registries[0] as [string, Resource];
    const schemas = ofType('AWS::EventSchemas::Schema').map(([, r]) => r.Properties);
    expect(schemas.map((s) => s.SchemaName).sort()).toEqual(DETAIL_TYPES.map((type) => `fenix@${type}`).sort());
    for (const schema of schemas) {
      expect(schema.Type).toBe('JSONSchemaDraft4');
      expect(schema.RegistryName).toEqual({ 'Fn::GetAtt': [registryId, 'RegistryName'] });
      expect(schema.Description).toEqual(expect.any(String));
    }
  });

  it.each(DETAIL_TYPES)('%s: well-formed draft 4 that accepts a real event and refuses a wrong one', (type) => {
    const schema = ofType('AWS::EventSchemas::Schema').find(
      ([, r]) => r.Properties.SchemaName === schemaName(type),
    )?.[1];
    const content = JSON.parse(schema?.Properties.Content);
    expect(content.$schema).toBe('http://json-schema.org/draft-04/schema#');
    const ajv = ajvDraft4();
    expect(ajv.validateSchema(content), ajv.errorsText(ajv.errors)).toBe(true);
    const validate = ajv.compile(content); // strict: throws on a keyword draft 4 does not have
    expect(problems(validate, SAMPLES[type])).toEqual([]);
    expect(problems(validate, { ...SAMPLES[type], 'detail-type': 'maintenance.other' })).not.toEqual([]);
    expect(problems(validate, { ...SAMPLES[type], detail: { ...SAMPLES[type].detail, event_seq: 'x' } })).not.toEqual(
      [],
    );
    const { service: _service, ...withoutService } = SAMPLES[type].detail;
    expect(problems(validate, { ...SAMPLES[type], detail: withoutService })).not.toEqual([]);
  });

  it('passes cdk-nag AwsSolutions on its own', () => {
    const app = new App();
    const stack = new Stack(app, 'Schemas');
    new EventSchemas(stack, 'EventSchemas');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).not.toThrow();
  });
});

describe('GET /v1/openapi.json', () => {
  it('is routed behind the JWT authorizer for admin and project tokens, to a function without table access', () => {
    const route = ofType('AWS::ApiGatewayV2::Route').find(
      ([, r]) => r.Properties.RouteKey === 'GET /v1/openapi.json',
    )?.[1];
    expect(route?.Properties.AuthorizationType).toBe('JWT');
    expect([...(route?.Properties.AuthorizationScopes ?? [])].sort()).toEqual(['fenix/admin', 'fenix/project']);
    const integrationId = route?.Properties.Target['Fn::Join'][1][1].Ref as string;
    const functionId = resources[integrationId]?.Properties.IntegrationUri['Fn::GetAtt'][0] as string;
    const fn = resources[functionId] as Resource;
    expect(fn.Properties.Environment?.Variables?.TABLE_NAME).toBeUndefined();
    const roleId = fn.Properties.Role['Fn::GetAtt'][0];
    const statements = ofType('AWS::IAM::Policy')
      .filter(([, p]) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleId))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as { Action: string | string[] }[]);
    const actions = statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
    expect(
      actions.filter(
        (action) => action.startsWith('dynamodb:') || action.startsWith('states:') || action.startsWith('events:'),
      ),
    ).toEqual([]);
  });
});
