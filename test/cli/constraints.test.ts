import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Io } from '../../cli/context.js';
import { run } from '../../cli/main.js';
import { startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

/**
 * `fenix constraints put|get|delete instance|group <id>` against the real local runtime: flags and
 * --json-body, the project it speaks for, human and --json output, exit codes (0, 1 the API refused,
 * 2 usage) with one-line errors.
 */

let t: TestRuntime;

const fenix = async (args: string[]) => {
  let out = '';
  let err = '';
  const io: Io = {
    stdout: (text) => (out += text),
    stderr: (text) => (err += text),
    env: { FENIX_URL: t.url, FENIX_DATA_DIR: t.runtime.dataDir },
    isTTY: false,
    sleep: async () => undefined,
  };
  const code = await run(args, io);
  return { code, out, err };
};

beforeAll(async () => {
  t = await startTestRuntime({
    inventory: {
      hosts: [{ name: 'c-1', type: 'compute', vcpus: 4 }],
      instances: [
        { id: 'vm-a', name: 'ha-a', project_id: 'vnf-a', host: 'c-1', vcpus: 1 },
        { id: 'vm-b', name: 'b', project_id: 'vnf-b', host: 'c-1', vcpus: 1 },
      ],
    },
  });
});
afterAll(async () => t?.stop());

describe('fenix constraints', () => {
  it('puts an instance constraint from flags as its project, prints what is stored, gets and deletes it', async () => {
    const put = await fenix([
      'constraints',
      'put',
      'instance',
      'vm-a',
      '--project',
      'vnf-a',
      '--group-id',
      'g-ha',
      '--migration-type',
      'live_migrate',
      '--lead-time',
      '40',
      '--resource-mitigation',
    ]);
    expect(put).toMatchObject({ code: 0, err: '' });
    expect(put.out).toContain('stored the constraint of instance vm-a\n');
    expect(put.out).toContain('  migration_type: LIVE_MIGRATE\n');
    expect(put.out).toContain('  max_interruption_time: -\n');
    expect(put.out).toContain('  instance_name: ha-a\n');

    const got = await fenix(['constraints', 'get', 'instance', 'vm-a', '--json']); // as admin
    expect(got.code).toBe(0);
    expect(JSON.parse(got.out)).toEqual({
      instance_id: 'vm-a',
      project_id: 'vnf-a',
      group_id: 'g-ha',
      instance_name: 'ha-a',
      max_interruption_time: null,
      migration_type: 'LIVE_MIGRATE',
      resource_mitigation: true,
      lead_time: 40,
    });
    const foreign = await fenix(['constraints', 'get', 'instance', 'vm-a', '--project', 'vnf-b']);
    expect(foreign).toMatchObject({ code: 1, out: '' });
    expect(foreign.err).toMatch(/^fenix: 404 not_found: no constraint for instance vm-a\n$/);

    expect(await fenix(['constraints', 'delete', 'instance', 'vm-a', '--project', 'vnf-a'])).toEqual({
      code: 0,
      out: 'deleted the constraint of instance vm-a\n',
      err: '',
    });
    expect((await fenix(['constraints', 'get', 'instance', 'vm-a'])).code).toBe(1);
  });

  it('puts a group from --json-body (text or @file) with options over it', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'fenix-cli-')), 'group.json');
    writeFileSync(file, JSON.stringify({ group_name: 'ha', anti_affinity_group: true, max_impacted_members: 2 }));
    const put = await fenix([
      'constraints',
      'put',
      'group',
      'g-ha',
      '--project',
      'vnf-a',
      '--json-body',
      `@${file}`,
      '--max-impacted-members',
      '1',
      '--max-instances-per-host',
      '1',
      '--json',
    ]);
    expect(put.code).toBe(0);
    expect(JSON.parse(put.out)).toMatchObject({
      group_id: 'g-ha',
      project_id: 'vnf-a',
      group_name: 'ha',
      anti_affinity_group: true,
      max_impacted_members: 1,
      max_instances_per_host: 1,
      recovery_time: 0,
    });
    const inline = await fenix([
      'constraints',
      'put',
      'group',
      'g-other',
      '--json-body',
      '{"project_id": "vnf-b", "recovery_time": 60}',
    ]);
    expect(inline.code).toBe(0);
    expect(inline.out).toContain('  recovery_time: 60\n');
    expect((await fenix(['constraints', 'delete', 'group', 'g-other', '--json'])).out).toBe('{}\n');
  });

  it.each([
    [['constraints', 'put', 'server', 'vm-a'], /^fenix: constraints put: say instance or group, not server/],
    [['constraints', 'put', 'instance'], /^fenix: constraints put needs <instance\|group> <id>/],
    [['constraints', 'put', 'group', 'g', '--lead-time', '4'], /^fenix: constraints put group takes no --lead-time/],
    [['constraints', 'get', 'instance', 'vm-a', '--group-id', 'g'], /takes no --group-id/],
    [['constraints', 'put', 'instance', 'vm-a', '--lead-time', 'soon'], /--lead-time must be a number, got soon/],
    [['constraints', 'put', 'instance', 'vm-a', '--json-body', '[1]'], /--json-body must be a JSON object/],
    [['constraints', 'put', 'instance', 'vm-a', '--json-body', '@/no/such/file.json'], /ENOENT/],
    [['constraints'], /^fenix: constraints needs a subcommand/],
  ])('refuses %j as a usage mistake (exit 2)', async (args, message) => {
    const result = await fenix(args);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(message);
    expect(result.err.trim().split('\n')).toHaveLength(1);
  });

  it("passes the API's refusals on in one line (exit 1)", async () => {
    const negative = await fenix(['constraints', 'put', 'instance', 'vm-a', '--project', 'vnf-a', '--lead-time=-1']);
    expect(negative).toMatchObject({ code: 1, out: '' });
    expect(negative.err).toBe('fenix: 400 invalid_request: lead_time: lead_time must not be negative\n');
    const unnamed = await fenix(['constraints', 'put', 'instance', 'vm-a']);
    expect(unnamed.err).toMatch(/^fenix: 400 invalid_request: project_id: required with an admin token/);
    const notTheirs = await fenix(['constraints', 'put', 'instance', 'vm-b', '--project', 'vnf-a']);
    expect(notTheirs.err).toBe('fenix: 404 not_found: the cloud has no instance vm-b in project vnf-a\n');
  });

  it('documents the commands', async () => {
    const help = await fenix(['constraints', 'put', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('--max-instances-per-host <n>');
    expect((await fenix(['--help'])).out).toContain('fenix constraints delete instance|group <id>');
  });
});
