import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAt, parseInstanceAction, parsePluginAction } from '../../cli/args.js';
import type { Io } from '../../cli/context.js';
import { run } from '../../cli/main.js';
import { progressBar, table } from '../../cli/render.js';
import { repoPath } from '../../infra/paths.js';
import { LocalKeys } from '../../local/jwt.js';
import { fenixTimeIn, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

/**
 * The `fenix` CLI against the real local runtime: every command, human and --json output, exit
 * codes (0 done, 1 API refusal / unreachable / failed session, 2 usage), one-line errors, tokens
 * minted from the runtime's data dir, and the live watch to DONE and to FAILED.
 */

let t: TestRuntime;
const ANSI = '\u001b[';

interface Result {
  code: number;
  out: string;
  err: string;
}

/** Runs the CLI in this process against the test runtime (tokens minted from its data dir). */
const fenix = async (
  args: string[],
  options: { env?: Record<string, string | undefined>; tty?: boolean } = {},
): Promise<Result> => {
  let out = '';
  let err = '';
  const io: Io = {
    stdout: (text) => (out += text),
    stderr: (text) => (err += text),
    env: { FENIX_URL: t.url, FENIX_DATA_DIR: t.runtime.dataDir, ...options.env },
    isTTY: options.tty ?? false,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.min(ms, 100))),
  };
  const code = await run(args, io);
  return { code, out, err };
};

/** A local port nothing listens on. */
const closedPort = async (): Promise<number> => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
};

const ok = async (args: string[], options?: Parameters<typeof fenix>[1]) => {
  const result = await fenix(args, options);
  expect(result.err, `fenix ${args.join(' ')}`).toBe('');
  expect(result.code, `fenix ${args.join(' ')}: ${result.err}`).toBe(0);
  return result;
};

/** A VNFM that answers every round for `project` (MIGRATE in PREPARE/PLANNED), or NACKs `nackIn`. */
const autoReply = (project: string, nackIn?: string) => {
  const seen = new Set<string>();
  t.runtime.bus.onEvent((event) => {
    const d = event.detail as Record<string, any>;
    if (
      event['detail-type'] !== 'maintenance.scheduled' ||
      d.project_id !== project ||
      d.state === 'INSTANCE_ACTION_DONE'
    )
      return;
    if (seen.has(`${d.session_id}/${d.event_seq}`)) return;
    seen.add(`${d.session_id}/${d.event_seq}`);
    void (async () => {
      const path = new URL(d.reply_url).pathname;
      if (d.state === nackIn) return void (await t.api('PUT', path, { state: `NACK_${d.state}` }));
      const ids = ((await t.api('GET', path)).body?.instance_ids ?? []) as string[];
      const actions = d.allowed_actions.length
        ? { instance_actions: Object.fromEntries(ids.map((id) => [id, 'MIGRATE'])) }
        : {};
      await t.api('PUT', path, { state: `ACK_${d.state}`, ...actions });
    })();
  });
};

beforeAll(async () => {
  t = await startTestRuntime({
    inventory: {
      hosts: ['a-1', 'a-2', 'b-1', 'b-2', 'm-1', 'm-2', 'x-1'].map((name) => ({ name, type: 'compute', vcpus: 4 })),
      instances: [
        { name: 'auto-0', project_id: 'auto', host: 'a-1', vcpus: 1 },
        { name: 'nack-0', project_id: 'nacker', host: 'b-1', vcpus: 1 },
        { name: 'man-0', project_id: 'manual', host: 'm-1', vcpus: 1 },
        { name: 'man-1', project_id: 'manual', host: 'm-1', vcpus: 1 },
      ],
    },
    // Reply windows long enough for the by-hand replies below even on a busy machine.
    env: { FENIX_PROJECT_MAINTENANCE_REPLY: '5', FENIX_PROJECT_SCALE_IN_REPLY: '5' },
  });
  autoReply('auto');
  autoReply('nacker', 'PLANNED_MAINTENANCE');
});

afterAll(async () => {
  await t?.stop();
});

describe('argument parsing and rendering', () => {
  it('reads --at as now, +N[smh] or an absolute time', () => {
    const now = new Date('2030-01-01T00:00:00Z');
    expect(parseAt('now', now)).toBe('2030-01-01 00:00:00');
    expect(parseAt('+90s', now)).toBe('2030-01-01 00:01:30');
    expect(parseAt('+5m', now)).toBe('2030-01-01 00:05:00');
    expect(parseAt('+2h', now)).toBe('2030-01-01 02:00:00');
    expect(parseAt('+30', now)).toBe('2030-01-01 00:00:30');
    expect(parseAt('2031-02-03 04:05:06', now)).toBe('2031-02-03 04:05:06');
  });

  it('reads plug-in actions and instance actions', () => {
    expect(parsePluginAction('dummy:compute')).toEqual({ plugin: 'dummy', type: 'compute' });
    expect(parsePluginAction('fw:host:{"url":"http://x:1/fw"}')).toEqual({
      plugin: 'fw',
      type: 'host',
      metadata: { url: 'http://x:1/fw' },
    });
    expect(() => parsePluginAction('dummy')).toThrow(/plugin:type/);
    expect(parseInstanceAction('vm-1=migrate')).toEqual(['vm-1', 'MIGRATE']);
    expect(() => parseInstanceAction('vm-1')).toThrow(/<instance_id>=<ACTION>/);
  });

  it('aligns tables and draws progress bars', () => {
    expect(
      table(
        ['A', 'LONG'],
        [
          ['xxxx', 1],
          [null, true],
        ],
      ),
    ).toBe('A     LONG\nxxxx  1\n-     yes');
    expect(progressBar(1, 4, 8, false)).toBe('[##......]');
    expect(progressBar(4, 4, 4)).toBe('[████]');
  });
});

describe('usage errors (exit 2, one line on stderr)', () => {
  it.each([
    [['session', 'bogus'], /^fenix: unknown command: session bogus \(see fenix --help\)\n$/],
    [['session'], /^fenix: session needs a subcommand/],
    [
      ['session', 'create', '--frobnicate'],
      /^fenix: unknown option --frobnicate \(see fenix session create --help\)\n$/,
    ],
    [['session', 'show'], /^fenix: session show needs <session_id>/],
    [['session', 'show', 'a', 'b'], /unexpected argument b/],
    [['session', 'create', '--metadata', '[1]'], /--metadata must be a JSON object, not an array/],
    [['session', 'create', '--action', 'dummy'], /expected plugin:type/],
    [['session', 'list', '--ack'], /session list takes no --ack/],
    [['session', 'continue', 'x'], /needs --state/],
    [['project', 'reply', 's', 'p'], /exactly one of --ack and --nack/],
    [['token'], /exactly one of --admin and --project/],
    [['--url', 'ftp://x', 'session', 'list'], /not an http\(s\) URL: ftp:\/\/x/],
  ])('fenix %j', async (args, message) => {
    const result = await fenix(args as string[]);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(message as RegExp);
    expect(result.err.trim().split('\n')).toHaveLength(1);
    expect(result.out).toBe('');
  });

  it('prints help with exit 0', async () => {
    const all = await ok(['--help']);
    expect(all.out).toContain('fenix session watch <session_id>');
    const one = await ok(['project', 'reply', '--help']);
    expect(one.out).toMatch(/^usage: fenix project reply/);
  });
});

describe('API and network errors (exit 1, one line on stderr)', () => {
  it('names an unreachable server', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const result = await fenix(['session', 'list'], { env: { FENIX_URL: url } });
    expect(result).toEqual({ code: 1, out: '', err: `fenix: cannot reach ${url}: connection refused\n` });
  });

  it('gives the API error code and message', async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    const result = await fenix(['session', 'show', id]);
    expect(result).toEqual({ code: 1, out: '', err: `fenix: 404 not_found: no maintenance session ${id}\n` });
    const bad = await fenix(['session', 'create', '--host', 'nope-9', '--at', '+30s']);
    expect(bad.code).toBe(1);
    expect(bad.err).toBe('fenix: 400 invalid_request: hosts.0: no host named nope-9 in the cloud\n');
  });

  it('explains a 401 when there is no token to send', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'fenix-cli-nokeys-'));
    const result = await fenix(['session', 'list'], { env: { FENIX_DATA_DIR: empty } });
    expect(result.code).toBe(1);
    expect(result.err).toMatch(
      /^fenix: 401 unauthorized: a valid bearer token is required \(no Authorization header\) \(no token: set FENIX_TOKEN or pass --token/,
    );
    const wrong = await fenix(['session', 'list', '--token', 'not.a.jwt']);
    expect(wrong.err).toMatch(/^fenix: 401 unauthorized: .*check the token given by --token/);
  });

  it('uses FENIX_TOKEN when set, and --token over it', async () => {
    const project = await t.token({ project: 'auto' });
    const refused = await fenix(['session', 'list'], { env: { FENIX_TOKEN: project } });
    expect(refused).toMatchObject({ code: 1, err: 'fenix: 403 forbidden: this route needs the fenix/admin scope\n' });
    await ok(['session', 'list', '--token', await t.token({ admin: true })], { env: { FENIX_TOKEN: project } });
  });

  it('never prints a stack trace from the real binary', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const result = spawnSync(process.execPath, [repoPath('cli/fenix.mjs'), 'session', 'list'], {
      env: { ...process.env, FENIX_URL: url },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(`fenix: cannot reach ${url}: connection refused\n`);
  });
});

describe('commands', () => {
  it('token: mints a verifiable admin or project token', async () => {
    const admin = (await ok(['token', '--admin'])).out.trim();
    const keys = LocalKeys.load(t.runtime.dataDir);
    expect(await keys.verify(admin)).toMatchObject({ claims: { scope: 'fenix/admin' } });
    const project = (await ok(['token', '--project', 'vnf-a', '--ttl', '60'])).out.trim();
    expect(await keys.verify(project)).toMatchObject({ claims: { 'fenix:project_id': 'vnf-a' } });
  });

  it('session create / list / show / delete, human and --json', async () => {
    // An absolute time: a retry with the same Idempotency-Key must send the same body.
    const at = fenixTimeIn(120);
    const create = ['session', 'create', '--host', 'x-1', '--at', at, '--metadata', '{"ticket":"CHG-1"}'];
    const args = [...create, '--action', 'dummy:compute', '--idempotency-key', 'cli-test-1'];
    const created = await ok(args);
    const id = created.out.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const again = await ok([...args, '--json']);
    expect(JSON.parse(again.out)).toEqual({ session_id: id });

    const list = await ok(['session', 'list']);
    expect(list.out).toMatch(new RegExp(`^SESSION +STATE\\n(.*\\n)*${id}  MAINTENANCE`));
    expect(JSON.parse((await ok(['session', 'list', '--json'])).out).sessions).toContainEqual({
      session_id: id,
      state: 'MAINTENANCE',
    });

    const show = await ok(['session', 'show', id]);
    expect(show.out).toMatch(/^Session +[0-9a-f-]{36}\nState +MAINTENANCE/);
    expect(show.out).toContain('Metadata        {"ticket":"CHG-1"}');
    expect(show.out).toContain('Actions         dummy:compute');
    expect(show.out).toMatch(/\nHOSTS\nNAME +TYPE +PHASE .*\nx-1 +compute +PENDING/);
    expect(show.out).toMatch(/\nHISTORY\nSEQ +AT +WHAT\n1 +\d\d:\d\d:\d\d +session MAINTENANCE/);
    const detail = JSON.parse((await ok(['session', 'show', id, '--json'])).out);
    expect(detail.session).toMatchObject({ session_id: id, state: 'MAINTENANCE', metadata: { ticket: 'CHG-1' } });
    expect(detail.hosts).toEqual([expect.objectContaining({ name: 'x-1' })]);

    expect((await ok(['session', 'delete', id])).out).toBe(`deleted session ${id}\n`);
    const gone = await fenix(['session', 'delete', id]);
    expect(gone).toEqual({ code: 1, out: '', err: `fenix: 404 not_found: no maintenance session ${id}\n` });
  });

  it('session create --workflow vnf --parallel --max-failed: the rollout and workflow asked for, bad values refused', async () => {
    const id = (
      await ok([
        'session',
        'create',
        '--host',
        'x-1',
        '--at',
        '+120s',
        '--workflow',
        'vnf',
        '--parallel',
        '3',
        '--max-failed',
        '1',
      ])
    ).out.trim();
    const detail = JSON.parse((await ok(['session', 'show', id, '--json'])).out);
    expect(detail.session).toMatchObject({ workflow: 'vnf', rollout: { max_parallel_hosts: 3, max_failed_hosts: 1 } });
    await ok(['session', 'delete', id]);
    expect(await fenix(['session', 'create', '--parallel', 'many'])).toEqual({
      code: 2,
      out: '',
      err: expect.stringContaining('--parallel must be a number, got "many"'),
    });
    const zero = await fenix(['session', 'create', '--host', 'x-1', '--parallel', '0']);
    expect(zero.code).toBe(1);
    expect(zero.err).toContain('rollout.max_parallel_hosts');
  });

  it('project instances / reply: by hand, through every round, to MAINTENANCE_DONE', async () => {
    // +9 s: the 5 s window plus room for a loaded machine between the create and the workflow's check.
    const id = (await ok(['session', 'create', '--host', 'm-1,m-2', '--at', '+9s'])).out.trim();
    const waitFor = async (state: string) => {
      for (let i = 0; i < 200; i++) {
        const detail = (await t.api('GET', `/v1/maintenance/${id}/detail`)).body;
        if (
          detail.session.state === state &&
          (detail.round?.status === 'OPEN' ||
            !['MAINTENANCE', 'PREPARE_MAINTENANCE', 'PLANNED_MAINTENANCE', 'MAINTENANCE_COMPLETE'].includes(state))
        )
          return detail;
        if (detail.session.state === 'MAINTENANCE_FAILED') throw new Error(`failed: ${detail.session.failure?.reason}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`never reached ${state}`);
    };
    await waitFor('MAINTENANCE');
    const instances = await ok(['project', 'instances', id, 'manual']);
    expect(instances.out.trim().split('\n')).toHaveLength(2);
    expect(JSON.parse((await ok(['project', 'instances', id, 'manual', '--json'])).out).instance_ids).toHaveLength(2);
    // A reply to another state than the session's is refused by the API.
    const wrong = await fenix(['project', 'reply', id, 'manual', '--ack', '--state', 'SCALE_IN']);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/^fenix: 409 wrong_state: /);
    // With a project token, the session's state cannot be read: the error says to name it.
    const projectOnly = await fenix(['project', 'reply', id, 'manual', '--ack'], {
      env: { FENIX_TOKEN: await t.token({ project: 'manual' }) },
    });
    expect(projectOnly.err).toMatch(/^fenix: 403 forbidden: .*name the state answered with --state <STATE>\n$/);
    expect((await ok(['project', 'reply', id, 'manual', '--ack'])).out).toBe(
      `manual replied ACK_MAINTENANCE in session ${id}\n`,
    );
    // m-2 is empty, so it goes first; m-1's instances are then moved (PLANNED_MAINTENANCE).
    await waitFor('PLANNED_MAINTENANCE');
    const reply = await ok(['project', 'reply', id, 'manual', '--ack', '--action', '*=MIGRATE']);
    expect(reply.out).toBe(`manual replied ACK_PLANNED_MAINTENANCE in session ${id} with 2 instance actions\n`);
    await waitFor('MAINTENANCE_COMPLETE');
    await ok([
      'project',
      'reply',
      id,
      'manual',
      '--ack',
      '--state',
      'MAINTENANCE_COMPLETE',
      '--token',
      await t.token({ project: 'manual' }),
    ]);
    const done = await ok(['session', 'watch', id, '--interval', '0.1']);
    expect(done.out).toMatch(/MAINTENANCE_DONE: 2\/2 hosts maintained/);
    const show = await ok(['session', 'show', id]);
    expect(show.out).toMatch(/manual replied ACK_PLANNED_MAINTENANCE \(2 × MIGRATE\) \[vnfm-manual\]/);
    const row = show.out.split('\n').find((line) => line.includes(' man-0 '));
    expect(row).toMatch(/ man-0 +manual +m-2 +1 +MIGRATE +yes$/);
  });

  it('session watch: live progress to MAINTENANCE_DONE (exit 0), piped and on a terminal', async () => {
    const id = (await ok(['session', 'create', '--host', 'a-1', '--host', 'a-2', '--at', '+8s'])).out.trim();
    const piped = await ok(['session', 'watch', id, '--interval', '0.2']);
    expect(piped.out).not.toContain(ANSI);
    const lines = piped.out.trim().split('\n');
    expect(lines[0]).toBe(`watching session ${id} (every 0.2 s; Ctrl-C stops watching, not the session)`);
    expect(piped.out).toMatch(/\d\d:\d\d:\d\d {2}session MAINTENANCE\n/);
    expect(piped.out).toMatch(/asked auto to answer MAINTENANCE by \d\d:\d\d:\d\d/);
    expect(piped.out).toMatch(/auto replied ACK_PLANNED_MAINTENANCE \(1 × MIGRATE\)/);
    expect(piped.out).toMatch(/host a-1 IN_MAINTENANCE/);
    expect(piped.out).toMatch(/\[MAINTENANCE_DONE \| \[#{24}\] 2\/2 hosts maintained \(100%\)\]/);
    expect(lines.at(-1)).toMatch(/^MAINTENANCE_DONE: 2\/2 hosts maintained \(watched \d+s\)$/);

    const tty = await ok(['session', 'watch', id, '--interval', '0.2'], { tty: true });
    expect(tty.out).toContain('█'.repeat(24));
    expect(tty.out).toMatch(/MAINTENANCE_DONE: 2\/2 hosts maintained/);

    const json = await ok(['session', 'watch', id, '--json']);
    const events = json.out
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(events.filter((e) => e.type === 'history').length).toBeGreaterThan(5);
    expect(events.at(-2)).toMatchObject({
      type: 'status',
      state: 'MAINTENANCE_DONE',
      hosts_maintained: 2,
      hosts: 2,
      percent_done: 100,
    });
    expect(events.at(-1)).toEqual({ type: 'end', session_id: id, state: 'MAINTENANCE_DONE' });
  });

  it('session watch: exit 1 with the reason on MAINTENANCE_FAILED; session continue picks it up again', async () => {
    const id = (await ok(['session', 'create', '--host', 'b-1,b-2', '--at', '+8s'])).out.trim();
    const watched = await fenix(['session', 'watch', id, '--interval', '0.2']);
    expect(watched.code).toBe(1);
    expect(watched.out).toMatch(/nacker replied NACK_PLANNED_MAINTENANCE/);
    expect(watched.out).toMatch(/session PLANNED_MAINTENANCE → MAINTENANCE_FAILED/);
    expect(watched.err).toMatch(new RegExp(`^fenix: session ${id} MAINTENANCE_FAILED: .+\\n$`));
    const show = await ok(['session', 'show', id]);
    expect(show.out).toMatch(/^Failure +.+/m);

    const running = await fenix(['session', 'continue', id, '--state', 'MAINTENANCE']);
    expect(running.code).toBe(0);
    expect(running.out).toBe(`session ${id} continues from MAINTENANCE\n`);
    const again = await fenix(['session', 'continue', id, '--state', 'MAINTENANCE']);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/^fenix: 409 session_running: /);
    await ok(['session', 'delete', id]);
  });
});
