/**
 * AWS list prices (us-east-1) from ../shared/reference/aws-facts.md §1.6, §4 and §6 — re-check
 * against the live pages before quoting them as a budget.
 */
export const PRICES = {
  sfnTransition: 0.025 / 1000, // Standard, per state transition (§1.6)
  lambdaRequest: 0.2 / 1e6, // per invocation (§4)
  lambdaGbSecondArm: 0.0000133334, // arm64 (§4); the functions are arm64 (infra/constructs/service-function.ts)
  httpApiRequest: 1.0 / 1e6, // HTTP API, first 300 M/month (§4)
  dynamoWru: 0.625 / 1e6, // on-demand write request unit (§3, §6)
  dynamoRru: 0.125 / 1e6, // on-demand read request unit
  eventBridgeEvent: 1.0 / 1e6, // custom event published, per 64 KB chunk (§6)
  logsIngestGb: 0.5, // CloudWatch Logs ingestion (§6)
};

/** The functions' memory (512 MB, infra/constructs/service-function.ts). */
export const LAMBDA_GB = 0.5;
/** Size of one Step Functions log record at level ALL without execution data (an assumption). */
export const SFN_LOG_BYTES_PER_EVENT = 350;

export interface SessionCounts {
  transitions: number;
  historyEvents: number;
  workflowInvocations: number;
  workflowMs: number;
  apiRequests: number;
  apiMeanMs: number;
  wru: number;
  rru: number;
  eventChunks: number;
}

export const priceSession = (c: SessionCounts) => {
  const lines = {
    stepFunctions: c.transitions * PRICES.sfnTransition,
    lambdaRequests: (c.workflowInvocations + c.apiRequests) * PRICES.lambdaRequest,
    lambdaDuration: ((c.workflowMs + c.apiRequests * c.apiMeanMs) / 1000) * LAMBDA_GB * PRICES.lambdaGbSecondArm,
    httpApi: c.apiRequests * PRICES.httpApiRequest,
    dynamoDb: c.wru * PRICES.dynamoWru + c.rru * PRICES.dynamoRru,
    eventBridge: c.eventChunks * PRICES.eventBridgeEvent,
    sfnLogs: ((c.historyEvents * SFN_LOG_BYTES_PER_EVENT) / 1024 ** 3) * PRICES.logsIngestGb,
  };
  const total = Object.values(lines).reduce((sum, value) => sum + value, 0);
  return { ...lines, total };
};
