import { describe, expect, it } from 'vitest';
import { handler, MAX_SECONDS, makeHandler, type PluginInput } from '../../functions/plugins/dummy.js';

/** The dummy plug-in: metadata.seconds (its duration), metadata.fail_hosts (its faults), bad values. */

const input = (metadata: Record<string, unknown>, host: string | null = 'compute-1'): PluginInput => ({
  session_id: '00000000-0000-4000-8000-000000000000',
  host,
  plugin: 'dummy',
  metadata,
  download: [],
});

/** A handler whose waits are recorded, not slept. */
const recording = () => {
  const waits: number[] = [];
  const run = makeHandler(async (ms) => {
    waits.push(ms);
  });
  return { run, waits };
};

describe('dummy plug-in', () => {
  it('answers DONE at once without metadata', async () => {
    const { run, waits } = recording();
    expect(await run(input({}))).toEqual({ state: 'DONE', message: 'dummy did nothing on compute-1' });
    expect(await run(input({}, null))).toEqual({
      state: 'DONE',
      message: 'dummy did nothing (no host: a pre or post run)',
    });
    expect(waits).toEqual([]);
  });

  it('takes metadata.seconds before answering', async () => {
    const { run, waits } = recording();
    expect(await run(input({ seconds: 3 }))).toEqual({
      state: 'DONE',
      message: 'dummy did nothing on compute-1 after 3 s',
    });
    expect(await run(input({ seconds: 0.25 }))).toMatchObject({ state: 'DONE' });
    expect(await run(input({ seconds: 0 }))).toEqual({ state: 'DONE', message: 'dummy did nothing on compute-1' });
    expect(waits).toEqual([3000, 250]);
  });

  it('really waits (the default clock)', async () => {
    const started = Date.now();
    expect(await handler(input({ seconds: 0.2 }))).toMatchObject({ state: 'DONE' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('answers FAILED on the hosts in metadata.fail_hosts, after its seconds', async () => {
    const { run, waits } = recording();
    const metadata = { seconds: 2, fail_hosts: ['compute-2', 'compute-3'] };
    expect(await run(input(metadata, 'compute-2'))).toEqual({
      state: 'FAILED',
      message: 'dummy: failed on compute-2 after 2 s as asked (metadata.fail_hosts)',
    });
    expect(await run(input(metadata, 'compute-1'))).toMatchObject({ state: 'DONE' });
    // pre/post runs have no host: never one of fail_hosts.
    expect(await run(input(metadata, null))).toMatchObject({ state: 'DONE' });
    expect(waits).toEqual([2000, 2000, 2000]);
    expect(await run(input({ fail_hosts: ['compute-1'] }))).toEqual({
      state: 'FAILED',
      message: 'dummy: failed on compute-1 as asked (metadata.fail_hosts)',
    });
  });

  it.each([
    [{ seconds: -1 }, 'metadata.seconds must be a number from 0 to 840, got -1'],
    [{ seconds: '3' }, 'metadata.seconds must be a number from 0 to 840, got "3"'],
    [{ seconds: MAX_SECONDS + 1 }, 'metadata.seconds must be a number from 0 to 840, got 841'],
    [{ seconds: null }, 'metadata.seconds must be a number from 0 to 840, got null'],
    [{ fail_hosts: 'compute-1' }, 'metadata.fail_hosts must be an array of host names, got "compute-1"'],
    [{ fail_hosts: ['compute-1', 7] }, 'metadata.fail_hosts must be an array of host names, got ["compute-1",7]'],
    [{ fail_hosts: [''] }, 'metadata.fail_hosts must be an array of host names, got [""]'],
  ])('refuses %j with FAILED naming the field, without waiting', async (metadata, message) => {
    const { run, waits } = recording();
    expect(await run(input(metadata))).toEqual({ state: 'FAILED', message: `dummy: ${message}` });
    expect(waits).toEqual([]);
  });

  it('refuses up front a wait longer than its Lambda may still run', async () => {
    const { run, waits } = recording();
    const context = { getRemainingTimeInMillis: () => 29_000 };
    expect(await run(input({ seconds: 60 }), context)).toEqual({
      state: 'FAILED',
      message:
        "dummy: metadata.seconds 60 is longer than this Lambda may still run (29 s of its timeout left); raise the function's timeout or ask for less",
    });
    expect(await run(input({ seconds: 20 }), context)).toMatchObject({ state: 'DONE' });
    expect(waits).toEqual([20_000]);
  });
});
