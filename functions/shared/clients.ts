import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

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
