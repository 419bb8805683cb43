import { parseDownloadAllow } from '../core/downloads.js';

/**
 * Environment, read once per variable and validated where it is used: a missing table or bus name
 * fails fast with a clear message instead of defaulting to something that would silently misbehave.
 */
const required = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
};

const integer = (name: string, fallback: number, min = 1): number => {
  const value = seconds(name, fallback, min);
  if (!Number.isInteger(value)) throw new Error(`${name} must be a whole number, got "${process.env[name]}"`);
  return value;
};

const seconds = (name: string, fallback: number, min = Number.MIN_VALUE): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min)
    throw new Error(`${name} must be a number of at least ${min === Number.MIN_VALUE ? 'above 0' : min}, got "${raw}"`);
  return value;
};

export const config = {
  get tableName() {
    return required('TABLE_NAME');
  },
  get eventBusName() {
    return required('EVENT_BUS_NAME');
  },
  get stateMachineArn() {
    return required('STATE_MACHINE_ARN');
  },
  get apiBaseUrl() {
    return required('API_BASE_URL');
  },
  /** The cloud driver (DESIGN §13): the simulated cloud, or OpenStack Nova. */
  get cloud(): 'sim' | 'openstack' {
    const value = process.env.FENIX_CLOUD || 'sim';
    if (value !== 'sim' && value !== 'openstack')
      throw new Error(`FENIX_CLOUD must be sim or openstack, got "${value}"`);
    return value;
  },
  /** Fenix `project_maintenance_reply`: reply window of MAINTENANCE, PREPARE and PLANNED rounds. */
  get maintenanceReplySeconds() {
    return seconds('FENIX_PROJECT_MAINTENANCE_REPLY', 20);
  },
  /** Fenix `project_scale_in_reply`: reply window of SCALE_IN and MAINTENANCE_COMPLETE rounds. */
  get scaleInReplySeconds() {
    return seconds('FENIX_PROJECT_SCALE_IN_REPLY', 60);
  },
  /** SCALE_IN rounds allowed before the session fails (Fenix could loop forever). */
  get maxScaleInRounds() {
    return integer('FENIX_MAX_SCALE_IN_ROUNDS', 3);
  },
  /** Seconds between checks that a host emptied (OWN_ACTION), and how many checks before giving up. */
  get emptyCheckSeconds() {
    return integer('FENIX_EMPTY_CHECK_SECONDS', 5, 0);
  },
  get emptyCheckAttempts() {
    return integer('FENIX_EMPTY_CHECK_ATTEMPTS', 36);
  },
  /** Longest wait between polls of the instance actions the cloud is carrying out (the first comes after 1 s). */
  get actionPollSeconds() {
    return integer('FENIX_ACTION_POLL_SECONDS', 5);
  },
  /** How long one instance action (a migration, a delete) may take before the session names it failed. */
  get actionTimeoutSeconds() {
    return integer('FENIX_ACTION_TIMEOUT_SECONDS', 1800);
  },
  /** The simulated cloud's instance actions take this long (0: at once), so the polling path can be tried. */
  get simActionSeconds() {
    return seconds('FENIX_SIM_ACTION_SECONDS', 0, 0);
  },
  /** Hosts one execution maintains before it hands the session to a fresh one (history bound). */
  /** Step Functions history events one session execution uses before a fresh one takes over (AWS caps it at 25,000). */
  get historyEvents() {
    return integer('FENIX_HISTORY_EVENTS', 5000, 100);
  },
  /** `host:port` entries that downloads may reach over http or at private addresses (DESIGN §11). */
  get downloadAllow(): string[] {
    return parseDownloadAllow(process.env.FENIX_DOWNLOAD_ALLOW);
  },
  /** Largest download accepted, in bytes (default 2 GiB). */
  get downloadMaxBytes() {
    return integer('FENIX_DOWNLOAD_MAX_BYTES', 2 * 1024 ** 3);
  },
  /** Where downloads are kept: the S3 bucket in AWS, else a folder (the local runtime sets it under its data dir). */
  get artifactsBucket() {
    return process.env.FENIX_ARTIFACTS_BUCKET || undefined;
  },
  get artifactsDir() {
    return required('FENIX_ARTIFACTS_DIR');
  },
  /** JSON map plug-in name → Lambda function name/ARN (set by the stack, or by the local runtime). */
  get plugins(): Record<string, string> {
    const raw = process.env.FENIX_PLUGINS;
    if (!raw) return {};
    const parsed: unknown = JSON.parse(raw);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('FENIX_PLUGINS must be a JSON object');
    return parsed as Record<string, string>;
  },
};
