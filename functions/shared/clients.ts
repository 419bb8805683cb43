import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { OpenStackClient } from '../adapters/openstack/client.js';
import { cloudFromFile, cloudFromText } from '../adapters/openstack/clouds.js';
import { NovaCloud } from '../adapters/openstack/nova-cloud.js';

/**
 * SDK clients, created once per process on first use. Endpoints are never set here: locally the
 * runtime points the SDK at its emulators through the standard AWS_ENDPOINT_URL_<SERVICE> variables.
 * A client is rebuilt only if its endpoint variable changes (a local runtime restarted in-process).
 */
const cached = <T extends { destroy(): void }>(variable: string, build: () => T) => {
  let client: T | undefined;
  let builtFor: string | undefined;
  return (): T => {
    const endpoint = process.env[variable];
    if (!client || endpoint !== builtFor) {
      client?.destroy();
      client = build();
      builtFor = endpoint;
    }
    return client;
  };
};

export const dynamo = cached('AWS_ENDPOINT_URL_DYNAMODB', () =>
  DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }),
);
export const eventBridge = cached('AWS_ENDPOINT_URL_EVENTBRIDGE', () => new EventBridgeClient({}));
export const sfn = cached('AWS_ENDPOINT_URL_SFN', () => new SFNClient({}));
export const s3 = cached('AWS_ENDPOINT_URL_S3', () => new S3Client({}));

/**
 * The OpenStack client and Nova driver, one per process, so the Keystone token and the negotiated
 * microversion outlive a single invocation. The cloud entry comes from Secrets Manager in AWS
 * (`FENIX_OPENSTACK_SECRET_ARN`), else from clouds.yaml (`OS_CLOUD`).
 */
let nova: NovaCloud | undefined;
export const novaCloud = (): NovaCloud => {
  nova ??= new NovaCloud(async () => {
    const secretArn = process.env.FENIX_OPENSTACK_SECRET_ARN;
    const cloud = secretArn
      ? cloudFromText(await readSecret(secretArn), `secret ${secretArn}`)
      : cloudFromFile(process.env.OS_CLOUD);
    return new OpenStackClient(cloud);
  });
  return nova;
};

const readSecret = async (arn: string): Promise<string> => {
  const client = new SecretsManagerClient({});
  try {
    const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: arn }));
    if (!SecretString) throw new Error(`secret ${arn} has no text value (store the clouds.yaml entry as text)`);
    return SecretString;
  } finally {
    client.destroy();
  }
};
