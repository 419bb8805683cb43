import { setTimeout as sleepFor } from 'node:timers/promises';

/**
 * The sample action plug-in (Fenix's `dummy`): does nothing and reports DONE. A plug-in receives
 * `{session_id, host, plugin, metadata, download}` (host is null for `pre`/`post` plug-ins) and
 * answers `{state: "DONE" | "FAILED", message?}`; FAILED or a throw fails the host (or the session).
 *
 * So that demos and tests can give hosts real duration and faults (DESIGN §12), its metadata may say
 *   - `seconds`: a number from 0 to {@link MAX_SECONDS}: take that long before answering;
 *   - `fail_hosts`: host names: on those hosts answer FAILED (after `seconds`, as a real plug-in
 *     that fails would have worked a while first).
 * A plug-in cannot answer 400, so a bad value is a FAILED naming the field.
 */
export interface PluginInput {
  session_id: string;
  host: string | null;
  plugin: string;
  metadata: Record<string, unknown>;
  /** The session's stored downloads (see CONTRIBUTING, "An action plug-in"); unused here. */
  download: unknown[];
}

export interface PluginOutput {
  state: 'DONE' | 'FAILED';
  message?: string;
}

/** The part of the Lambda context read here (absent when the local runtime calls the handler). */
export interface PluginContext {
  getRemainingTimeInMillis(): number;
}

/**
 * 14 minutes: a Lambda runs at most 15, and the answer must still get out. The deployed function's
 * own timeout can be shorter still: then a longer wait is refused up front (see below).
 */
export const MAX_SECONDS = 840;
/** Kept free of the Lambda's remaining time, to answer before it is cut off. */
const ANSWER_MARGIN_MS = 2000;

type Checked<T> = { value: T } | { error: string };

const checkSeconds = (value: unknown): Checked<number> =>
  value === undefined
    ? { value: 0 }
    : typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= MAX_SECONDS
      ? { value }
      : { error: `metadata.seconds must be a number from 0 to ${MAX_SECONDS}, got ${JSON.stringify(value)}` };

const checkFailHosts = (value: unknown): Checked<string[]> =>
  value === undefined
    ? { value: [] }
    : Array.isArray(value) && value.every((host) => typeof host === 'string' && host !== '')
      ? { value }
      : { error: `metadata.fail_hosts must be an array of host names, got ${JSON.stringify(value)}` };

const failed = (message: string): PluginOutput => ({ state: 'FAILED', message: `dummy: ${message}` });

/** The handler with its clock injected (tests pass one that does not wait). */
export const makeHandler =
  (sleep: (ms: number) => Promise<unknown> = sleepFor) =>
  async (input: PluginInput, context?: PluginContext): Promise<PluginOutput> => {
    const metadata: Record<string, unknown> =
      input.metadata && typeof input.metadata === 'object' && !Array.isArray(input.metadata) ? input.metadata : {};
    const seconds = checkSeconds(metadata.seconds);
    if ('error' in seconds) return failed(seconds.error);
    const failHosts = checkFailHosts(metadata.fail_hosts);
    if ('error' in failHosts) return failed(failHosts.error);

    const where = input.host ? `on ${input.host}` : '(no host: a pre or post run)';
    const waitMs = seconds.value * 1000;
    if (waitMs > 0) {
      // Failing now names the cause; a Lambda killed by its timeout would only say "Task timed out".
      const leftMs = context?.getRemainingTimeInMillis();
      if (leftMs !== undefined && waitMs > leftMs - ANSWER_MARGIN_MS)
        return failed(
          `metadata.seconds ${seconds.value} is longer than this Lambda may still run (${Math.floor(leftMs / 1000)} s of its timeout left); raise the function's timeout or ask for less`,
        );
      await sleep(waitMs);
    }
    const took = waitMs > 0 ? ` after ${seconds.value} s` : '';
    if (input.host !== null && failHosts.value.includes(input.host))
      return failed(`failed on ${input.host}${took} as asked (metadata.fail_hosts)`);
    return { state: 'DONE', message: `dummy did nothing ${where}${took}` };
  };

export const handler = makeHandler();
