import { performance } from 'node:perf_hooks';
import type { EventEnvelope } from '../../local/eventbridge-shim.js';
import type { Runtime } from '../../local/runtime.js';
import { attribute } from './instrument.js';

/**
 * One in-process VNFM per project, replying at once: ACK, and MIGRATE for every instance on the
 * host being emptied (after reading them with GET /v1/maintenance/{s}/{p}, as a VNFM does).
 *
 * To measure the reaction latency exactly, the driver knows which reply completes a round: the
 * projects' replies go out as their notifications arrive, except the last project's, which waits
 * until every other reply got its 200; its send time is t0, and the reaction latency is the time
 * from t0 to the next event the session publishes.
 */

export interface RoundRecord {
  seq: number;
  state: string;
  expected: number;
  /** Milliseconds since the driver's start (performance.now()). */
  firstEventAt: number;
  completingReplyAt?: number;
  nextEventAt?: number;
  nextEvent?: string;
}

interface OpenRound {
  record: RoundRecord;
  first: number;
  arrived: number;
  replies: Promise<void>[];
}

export class AutoVnfms {
  readonly rounds: RoundRecord[] = [];
  readonly latencies = { GET: [] as number[], PUT: [] as number[] };
  readonly failures: string[] = [];
  readonly statusCounts: Record<string, number> = {};
  instanceActionDone = 0;
  /** Largest API response and request body seen (bytes). */
  largestResponseBytes = 0;
  largestRequestBytes = 0;
  private current: OpenRound | undefined;
  private lookup: Promise<OpenRound | undefined> | undefined;
  private readonly tokens = new Map<string, Promise<string>>();
  private waitingForNext: RoundRecord | undefined;

  constructor(
    private readonly runtime: Runtime,
    private readonly sessionId: string,
    private readonly onRoundError: (message: string) => void = () => undefined,
    /**
     * MIGRATE (default): the engine moves instances. OWN_ACTION: the VNFM moves them itself, after `ownActionDelayMs`.
     * `reply: false`: no project is subscribed, so the notifications only inform (a reply would be refused): count them.
     */
    private readonly options: { action?: 'MIGRATE' | 'OWN_ACTION'; ownActionDelayMs?: number; reply?: boolean } = {},
  ) {}

  /** Feed every bus event here (the caller timestamps it at publication). */
  onEvent(event: EventEnvelope, at: number): void {
    const detail = event.detail as Record<string, unknown>;
    if (detail.session_id !== this.sessionId) return;
    if (this.waitingForNext && at >= (this.waitingForNext.completingReplyAt ?? Infinity)) {
      this.waitingForNext.nextEventAt = at;
      this.waitingForNext.nextEvent = `${event['detail-type']} ${String(detail.state)}`;
      this.waitingForNext = undefined;
    }
    if (event['detail-type'] !== 'maintenance.scheduled') return;
    if (detail.state === 'INSTANCE_ACTION_DONE') {
      this.instanceActionDone++;
      return;
    }
    if (this.options.reply === false) return;
    void this.handle(detail, at).catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      this.failures.push(message);
      this.onRoundError(message);
    });
  }

  private token(project: string): Promise<string> {
    const token = this.tokens.get(project) ?? this.runtime.token({ project });
    this.tokens.set(project, token);
    return token;
  }

  private async request(method: 'GET' | 'PUT', url: string, project: string, body?: unknown): Promise<unknown> {
    const started = performance.now();
    const response = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${await this.token(project)}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    this.latencies[method].push(performance.now() - started);
    this.largestResponseBytes = Math.max(this.largestResponseBytes, Buffer.byteLength(text));
    if (body) this.largestRequestBytes = Math.max(this.largestRequestBytes, Buffer.byteLength(JSON.stringify(body)));
    const key = `${method} ${response.status}`;
    this.statusCounts[key] = (this.statusCounts[key] ?? 0) + 1;
    if (response.status !== 200)
      throw new Error(`${method} ${new URL(url).pathname} → ${response.status} ${text.slice(0, 300)}`);
    return JSON.parse(text);
  }

  /** The round an event belongs to: rounds of one session are strictly sequential. */
  private async roundOf(eventSeq: number): Promise<OpenRound | undefined> {
    const covers = (round: OpenRound | undefined) =>
      round && eventSeq >= round.first && eventSeq < round.first + round.record.expected;
    for (;;) {
      if (covers(this.current)) return this.current;
      if (this.lookup) {
        await this.lookup;
        if (covers(this.current)) return this.current;
      }
      if (!this.lookup) {
        this.lookup = attribute('bench', async () => {
          const session = await this.runtime.store.getSession(this.sessionId);
          const round = session ? await this.runtime.store.getRound(this.sessionId, session.round_seq) : undefined;
          if (!round || round.first_event_seq === undefined) return undefined;
          if (this.current?.record.seq !== round.seq) {
            const record: RoundRecord = {
              seq: round.seq,
              state: round.state,
              expected: round.expected_count,
              firstEventAt: performance.now(),
            };
            this.rounds.push(record);
            this.current = { record, first: round.first_event_seq, arrived: 0, replies: [] };
          }
          return this.current;
        }).finally(() => {
          this.lookup = undefined;
        });
        const found = await this.lookup;
        if (!found) throw new Error(`no open round found for event_seq ${eventSeq}`);
        if (!covers(found))
          throw new Error(
            `event_seq ${eventSeq} is outside round ${found.record.seq} (${found.first}+${found.record.expected})`,
          );
        return found;
      }
    }
  }

  private async handle(detail: Record<string, unknown>, _at: number): Promise<void> {
    const round = await this.roundOf(detail.event_seq as number);
    if (!round) return;
    const state = String(detail.state);
    const project = String(detail.project_id);
    const url = String(detail.reply_url);
    round.arrived++;
    const last = round.arrived === round.record.expected;
    const prepare = async () => {
      if (state !== 'PREPARE_MAINTENANCE' && state !== 'PLANNED_MAINTENANCE') return { state: `ACK_${state}` };
      const { instance_ids } = (await this.request('GET', String(detail.instance_ids), project)) as {
        instance_ids: string[];
      };
      const action = this.options.action ?? 'MIGRATE';
      if (action === 'OWN_ACTION') {
        // The VNFM moves its instances itself, a while after replying; the engine waits for the host to empty.
        setTimeout(() => {
          void attribute('bench', async () => {
            for (const id of instance_ids) await this.runtime.cloud.moveInstance(id);
          }).catch((error: unknown) =>
            this.failures.push(`own action: ${error instanceof Error ? error.message : String(error)}`),
          );
        }, this.options.ownActionDelayMs ?? 0);
      }
      return { state: `ACK_${state}`, instance_actions: Object.fromEntries(instance_ids.map((id) => [id, action])) };
    };
    if (!last) {
      const reply = prepare().then((body) => this.request('PUT', url, project, body).then(() => undefined));
      round.replies.push(reply);
      return reply;
    }
    const body = await prepare();
    await Promise.all(round.replies);
    round.record.completingReplyAt = performance.now();
    this.waitingForNext = round.record;
    await this.request('PUT', url, project, body);
  }
}
