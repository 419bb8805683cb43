import { describe, expect, it } from 'vitest';
import { OpenStackClient } from '../../functions/adapters/openstack/client.js';
import { NovaCloud } from '../../functions/adapters/openstack/nova-cloud.js';
import { cloudEntry, requireLocalCloud } from '../../scripts/openstack/local-cloud.js';

/** The REST client against the real Keystone and Nova: what a long session meets (DESIGN §13). */
describe('the OpenStack client', () => {
  it('renews its token when Keystone no longer takes it (401) and carries on, unseen by the driver', async () => {
    requireLocalCloud();
    const client = new OpenStackClient(cloudEntry('fenix-admin'));
    const driver = new NovaCloud(() => client);
    const before = await driver.listHosts();
    const token = await client.authToken();
    // Revoked (as an expired token is refused): Keystone answers 204, Nova then 401.
    const revoked = await fetch(`${cloudEntry('fenix-admin').auth.auth_url}/auth/tokens`, {
      method: 'DELETE',
      headers: { 'x-auth-token': token, 'x-subject-token': token },
    });
    expect(revoked.status).toBe(204);
    // Keystone refuses it at once (Nova and placement may still take it from their own token cache).
    const projects = await client.request<{ projects: { name: string }[] }>('identity', 'GET', '/projects');
    expect(projects.body.projects.map((p) => p.name)).toContain('vnf-a');
    expect(await client.authToken()).not.toBe(token);
    expect((await driver.listHosts()).map((h) => h.name)).toEqual(before.map((h) => h.name));
  });

  it('names the cloud and the user when Keystone refuses the credentials', async () => {
    requireLocalCloud();
    const entry = cloudEntry('vnf-a');
    const client = new OpenStackClient({ ...entry, auth: { ...entry.auth, password: 'not-the-password' } });
    await expect(client.authToken()).rejects.toThrow(
      /keystone authentication: HTTP 401 .*\(auth_url http:\/\/127\.0\.0\.1:5000\/v3, user vnf-a\)/,
    );
  });
});
