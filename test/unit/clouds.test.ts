import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cloudFromFile, cloudFromText } from '../../functions/adapters/openstack/clouds.js';

/** clouds.yaml as the OpenStack driver reads it (DESIGN §13): a file locally, a secret's text in AWS. */
const CLOUDS = `clouds:
  ops:
    auth:
      auth_url: https://keystone.example.org:5000/v3
      username: fenix
      password: s3cret
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: internal
    identity_api_version: 3
  appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: https://keystone.example.org:5000/v3
      application_credential_id: 21b1e1
      application_credential_secret: shh
  broken:
    auth:
      auth_url: not a url
`;

const file = () => {
  const path = join(mkdtempSync(join(tmpdir(), 'fenix-clouds-')), 'clouds.yaml');
  writeFileSync(path, CLOUDS);
  return path;
};

describe('clouds.yaml', () => {
  it('reads the OS_CLOUD entry of OS_CLIENT_CONFIG_FILE: password and application credential', () => {
    const env = { OS_CLIENT_CONFIG_FILE: file() } as NodeJS.ProcessEnv;
    expect(cloudFromFile('ops', env)).toMatchObject({
      auth: { auth_url: 'https://keystone.example.org:5000/v3', username: 'fenix', project_name: 'admin' },
      region_name: 'RegionOne',
      interface: 'internal',
    });
    expect(cloudFromFile('appcred', env).auth.application_credential_id).toBe('21b1e1');
  });

  it('says what is wrong: no OS_CLOUD, no such cloud (naming those there are), a bad entry', () => {
    const env = { OS_CLIENT_CONFIG_FILE: file() } as NodeJS.ProcessEnv;
    expect(() => cloudFromFile(undefined, env)).toThrow(/OS_CLOUD is not set/);
    expect(() => cloudFromFile('nope', env)).toThrow(/has no cloud "nope" \(it has: ops, appcred, broken\)/);
    expect(() => cloudFromFile('broken', env)).toThrow(/clouds\.broken: auth\.auth_url: /);
  });

  it('takes a secret holding one entry, as YAML or JSON, or a whole clouds.yaml with one cloud', () => {
    const entry = { auth: { auth_url: 'https://k.example.org/v3', username: 'u', password: 'p', project_name: 'x' } };
    expect(cloudFromText(JSON.stringify(entry), 'secret s').auth.username).toBe('u');
    expect(
      cloudFromText('auth:\n  auth_url: https://k.example.org/v3\n  user_id: abc\n  password: p\n', 'secret s').auth
        .user_id,
    ).toBe('abc');
    expect(cloudFromText(JSON.stringify({ clouds: { only: entry } }), 'secret s').auth.project_name).toBe('x');
    expect(() => cloudFromText(CLOUDS, 'secret s')).toThrow(/secret s: holds 3 clouds; keep exactly one/);
    expect(() => cloudFromText('auth:\n  auth_url: https://k.example.org/v3\n', 'secret s')).toThrow(
      /secret s: auth needs username \(or user_id\) and password, or an application credential/,
    );
  });
});
