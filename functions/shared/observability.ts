import { Logger } from '@aws-lambda-powertools/logger';

/** One structured JSON logger per process; `session_id` is appended by the handlers that know it. */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'fenix' });
