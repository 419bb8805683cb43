import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * SDK clients, created once per process on first use. Endpoints are never set here: locally the
 * runtime points the SDK at its emulators through the standard AWS_ENDPOINT_URL_<SERVICE> variables.
 */
let documentClient: DynamoDBDocumentClient | undefined;
let eventBridgeClient: EventBridgeClient | undefined;
let sfnClient: SFNClient | undefined;

export const dynamo = (): DynamoDBDocumentClient =>
  (documentClient ??= DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true },
  }));
export const eventBridge = (): EventBridgeClient => (eventBridgeClient ??= new EventBridgeClient({}));
export const sfn = (): SFNClient => (sfnClient ??= new SFNClient({}));
