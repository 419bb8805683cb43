import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../local/eventbridge-shim.js';
import { fenixTimeIn, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

/**
 * Concurrency (issue 4, item 7), against the real handlers, dynalite and the local engine:
 * 50 projects answering one round at the same instant (each three times), replies racing the
 * round's deadline, and one session creation retried ten times at once with one Idempotency-Key.
 */

const PROJECTS = Array.from({ length: 50 }, (_, i) => `p${String(i).padStart(2, '0')}`);
const inventory = {
  hosts: [
    { name: 'c-1', type: 'compute', vcpus: 64 },
    { name: 'c-2', type: 'compute', vcpus: 64 },
    { name: 'c-3', type: 'compute', vcpus: 256 },
    { name: 'c-4', type: 'compute', vcpus: 8 },
  ],
  instances: PROJECTS.flatMap((project) => [
    { id: `${project}-a`, name: `${project}-a`, project_id: project, host: 'c-1', vcpus: 1 },
    { id: `${project}-b`, name: `${project}-b`, project_id: project, host: 'c-2', vcpus: 1 },
  ]),
};

let fx: TestRuntime;
/** Every SendTaskSuccess/Failure the engine received: its token and whether it was accepted. */
const taskResults: { token: string; accepted: boolean }[] = [];
const summary: string[] = [];
/** Each project's token, minted once before the timed parts. */
const tokens = new Map<string, string>();

beforeAll(async () => {
  fx = await startTestRuntime({ inventory, env: { FENIX_PROJECT_MAINTENANCE_REPLY: '12' } });
  for (const project of PROJECTS) tokens.set(project, await fx.token({ project }));
  // Count what reaches the engine: a round must resume its execution exactly once.
  const engine = fx.runtime.sfn as unknown as { sendTaskResult: (token: string, result: unknown) => unknown };
  const original = engine.sendTaskResult.bind(fx.runtime.sfn);
  engine.sendTaskResult = (token, result) => {
    try {
      const answer = original(token, result);
      taskResults.push({ token, accepted: true });
      return answer;
    } catch (error) {
      taskResults.push({ token, accepted: false });
      throw error;
    }
  };
});
afterAll(async () => {
  console.log(`concurrency: ${summary.join('; ')}`);
  await fx?.stop();
});

const bearer = (project: string) => ({ authorization: `Bearer ${tokens.get(project) ?? 'no-token-minted'}` });
const isSession = (sessionId: string) => (e: EventEnvelope) =>
  e['detail-type'] === 'maintenance.session' && e.detail.session_id === sessionId;
const scheduledFor = (sessionId: string) => (e: EventEnvelope) =>
  e['detail-type'] === 'maintenance.scheduled' && e.detail.session_id === sessionId;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const dump = () => fx.dumpTable();

/** Creates a session on `host` and waits until all 50 projects have been asked. */
const openSession = async (host: string, maintenanceInSeconds: number) => {
  const maintenanceAt = fenixTimeIn(maintenanceInSeconds);
  const created = await fx.api('POST', '/v1/maintenance', {
    state: 'MAINTENANCE',
    maintenance_at: maintenanceAt,
    hosts: [host],
    // Silence fails the session, so the race's outcome is on the record (failure.details).
    policy: { on_no_reply: 'FAIL' },
  });
  expect(created.status).toBe(200);
  const sessionId = created.body.session_id as string;
  await fx.waitForEvent(
    () => new Set(fx.events.filter(scheduledFor(sessionId)).map((e) => e.detail.project_id)).size === PROJECTS.length,
    20_000,
  );
  await fx.runtime.sfn.settled();
  const session = await fx.runtime.store.getSession(sessionId);
  const round = await fx.runtime.store.getRound(sessionId, session?.round_seq ?? 0);
  expect(round).toMatchObject({ state: 'MAINTENANCE', status: 'OPEN', expected_count: PROJECTS.length });
  return {
    sessionId,
    round: round as NonNullable<typeof round>,
    maintenanceAt: Date.parse(`${maintenanceAt.replace(' ', 'T')}Z`),
  };
};

describe('50 projects replying at the same instant', () => {
  it('records every reply once, resumes the workflow once, and takes duplicates as no-ops', async () => {
    // maintenance_at must leave the projects the whole reply window (12 s); the workflow then waits
    // for it, which leaves time to check the repeats against a quiet table.
    const { sessionId, round, maintenanceAt } = await openSession('c-1', 15);

    // Every project answers three times, all 150 requests in flight together.
    const replies = PROJECTS.flatMap((project) => [1, 2, 3].map(() => ({ project })));
    const started = Date.now();
    const answers = await Promise.all(
      replies.map(({ project }) =>
        fx.api('PUT', `/v1/maintenance/${sessionId}/${project}`, { state: 'ACK_MAINTENANCE' }, bearer(project)),
      ),
    );
    const elapsed = Date.now() - started;
    expect(answers.filter((a) => a.status !== 200 || JSON.stringify(a.body) !== '{}')).toEqual([]);

    const afterFirst = await dump();
    const members = await fx.runtime.store.listMembers(sessionId, round.seq);
    expect(members).toHaveLength(PROJECTS.length);
    for (const project of PROJECTS) {
      expect(
        members.find((m) => m.project_id === project),
        project,
      ).toMatchObject({ status: 'REPLIED', reply_state: 'ACK_MAINTENANCE', replied_by: `vnfm-${project}` });
    }
    const closed = await fx.runtime.store.getRound(sessionId, round.seq);
    expect(closed).toMatchObject({ status: 'CLOSED', outcome: 'ACK' });
    const token = closed?.token as string;
    expect(token).toBeTruthy();

    // Later repeats, while the session waits for maintenance_at: 200, and nothing changes.
    expect(Date.now(), 'the repeats must land before maintenance_at').toBeLessThan(maintenanceAt - 1500);
    const eventsBefore = fx.events.length;
    const repeats = await Promise.all(
      PROJECTS.map((project) =>
        fx.api('PUT', `/v1/maintenance/${sessionId}/${project}`, { state: 'ACK_MAINTENANCE' }, bearer(project)),
      ),
    );
    expect(repeats.map((a) => a.status)).toEqual(PROJECTS.map(() => 200));
    // The same project changing its mind is refused, and changes nothing either.
    const changed = await fx.api(
      'PUT',
      `/v1/maintenance/${sessionId}/p07`,
      { state: 'NACK_MAINTENANCE' },
      bearer('p07'),
    );
    expect(changed).toMatchObject({ status: 409, body: { error: 'already_replied' } });
    expect(await dump()).toBe(afterFirst);
    expect(fx.events.length).toBe(eventsBefore);

    // The workflow leaves MAINTENANCE once: one transition event, one accepted SendTaskSuccess.
    const left = await fx.waitForEvent(
      (e) => isSession(sessionId)(e) && e.detail.previous_state === 'MAINTENANCE',
      30_000,
    );
    expect(left.detail.state).not.toBe('MAINTENANCE_FAILED');
    await fx.runtime.sfn.settled();
    await sleep(500);
    expect(fx.events.filter((e) => isSession(sessionId)(e) && e.detail.previous_state === 'MAINTENANCE')).toHaveLength(
      1,
    );
    const forRound = taskResults.filter((r) => r.token === token);
    expect(forRound.filter((r) => r.accepted)).toHaveLength(1);
    const execution = fx.runtime.sfn.list().find((e) => e.name === sessionId);
    expect(execution?.status).toBe('RUNNING');

    summary.push(
      `${answers.length} simultaneous replies (50 projects x 3) in ${elapsed} ms: ${answers.filter((a) => a.status === 200).length}x200, ` +
        `${members.filter((m) => m.status === 'REPLIED').length} REPLIED, SendTaskSuccess for the round ${forRound.length} sent / ${forRound.filter((r) => r.accepted).length} accepted, ` +
        `1 transition ${left.detail.previous_state}->${left.detail.state}`,
    );
  });
});

describe('replies racing the deadline', () => {
  it('counts each reply (200, REPLIED) or refuses it (409, SILENT), never both, never neither', async () => {
    process.env.FENIX_PROJECT_MAINTENANCE_REPLY = '2'; // read when a round opens
    const { sessionId, round } = await openSession('c-2', 3600);
    const deadline = Date.parse(round.deadline);

    // Spread the 50 replies over deadline - 700 ms … deadline + 700 ms.
    const outcomes = await Promise.all(
      PROJECTS.map(async (project, i) => {
        const at = deadline - 700 + Math.round((1400 * i) / (PROJECTS.length - 1));
        await sleep(Math.max(0, at - Date.now()));
        const answer = await fx.api(
          'PUT',
          `/v1/maintenance/${sessionId}/${project}`,
          { state: 'ACK_MAINTENANCE' },
          bearer(project),
        );
        return { project, status: answer.status, error: answer.body?.error as string | undefined };
      }),
    );
    expect(outcomes.filter((o) => o.status !== 200 && !(o.status === 409 && o.error === 'round_closed'))).toEqual([]);

    // The deadline passes: silent projects fail the session; then every membership is final.
    await fx.waitForEvent((e) => isSession(sessionId)(e) && e.detail.state === 'MAINTENANCE_FAILED', 30_000);
    await fx.runtime.sfn.settled();
    const members = new Map((await fx.runtime.store.listMembers(sessionId, round.seq)).map((m) => [m.project_id, m]));
    const mismatches = outcomes.filter(({ project, status }) => {
      const member = members.get(project);
      return status === 200 ? member?.status !== 'REPLIED' : member?.status !== 'SILENT';
    });
    expect(mismatches.map((o) => `${o.project}: ${o.status} but ${members.get(o.project)?.status}`)).toEqual([]);
    expect([...members.values()].filter((m) => m.status === 'EXPECTED')).toEqual([]);
    const counted = outcomes.filter((o) => o.status === 200).length;
    // The spread straddles the deadline, so both sides are exercised.
    expect(counted).toBeGreaterThan(0);
    expect(counted).toBeLessThan(PROJECTS.length);
    const session = await fx.runtime.store.getSession(sessionId);
    expect(new Set(session?.failure?.details?.silent_projects as string[])).toEqual(
      new Set(outcomes.filter((o) => o.status === 409).map((o) => o.project)),
    );
    summary.push(
      `deadline race (replies over deadline ±700 ms): ${counted} counted (200, REPLIED), ${PROJECTS.length - counted} refused (409, SILENT), 0 mismatches`,
    );
  });
});

describe('session creation retried with one Idempotency-Key', () => {
  it('creates one session: every 200 carries its id, the others are 409 request_in_progress', async () => {
    const before = new Set((await fx.api('GET', '/v1/maintenance')).body.session_id as string[]);
    const body = { state: 'MAINTENANCE', maintenance_at: fenixTimeIn(3600), hosts: ['c-4'] };
    const headers = { 'idempotency-key': 'create-c-4-once' };
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => fx.api('POST', '/v1/maintenance', body, headers)),
    );

    const created = answers.filter((a) => a.status === 200);
    const waiting = answers.filter((a) => a.status === 409);
    expect(created.length).toBeGreaterThan(0);
    expect(created.length + waiting.length).toBe(answers.length);
    const ids = new Set(created.map((a) => a.body.session_id));
    expect(ids.size).toBe(1);
    for (const answer of waiting)
      expect(answer.body).toMatchObject({ error: 'request_in_progress', message: expect.any(String) });

    await fx.runtime.sfn.settled();
    const after = (await fx.api('GET', '/v1/maintenance')).body.session_id as string[];
    const fresh = after.filter((id) => !before.has(id));
    expect(fresh).toEqual([...ids]);
    // A late retry gets the same answer; one execution was started.
    expect(await fx.api('POST', '/v1/maintenance', body, headers)).toEqual({
      status: 200,
      body: { session_id: fresh[0] },
    });
    expect(fx.runtime.sfn.list().filter((e) => e.name.startsWith(fresh[0] as string))).toHaveLength(1);
    summary.push(
      `idempotent create (10 at once): ${created.length}x200 (one session_id), ${waiting.length}x409 request_in_progress, 1 session`,
    );
  });
});
