import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import * as z from 'zod';

/**
 * One cloud of a clouds.yaml (openstacksdk's format, the part Fenix needs): password or
 * application-credential auth, region, interface, TLS. Unknown keys are kept out of the way, not
 * refused, since real clouds.yaml files carry settings for other tools.
 */
export const cloudConfigSchema = z.object({
  auth_type: z.enum(['password', 'v3password', 'application_credential', 'v3applicationcredential']).optional(),
  auth: z.object({
    auth_url: z.url(),
    username: z.string().min(1).optional(),
    user_id: z.string().min(1).optional(),
    password: z.string().optional(),
    user_domain_name: z.string().min(1).optional(),
    user_domain_id: z.string().min(1).optional(),
    project_name: z.string().min(1).optional(),
    project_id: z.string().min(1).optional(),
    project_domain_name: z.string().min(1).optional(),
    project_domain_id: z.string().min(1).optional(),
    application_credential_id: z.string().min(1).optional(),
    application_credential_name: z.string().min(1).optional(),
    application_credential_secret: z.string().min(1).optional(),
  }),
  region_name: z.string().min(1).optional(),
  interface: z.enum(['public', 'internal', 'admin']).optional(),
  /** A PEM file of the CA that signed the cloud's certificates. */
  cacert: z.string().min(1).optional(),
  verify: z.boolean().optional(),
});

export type CloudConfig = z.infer<typeof cloudConfigSchema>;

/** Where clouds.yaml is looked for, in openstacksdk's order. */
export const cloudsYamlPaths = (env: NodeJS.ProcessEnv = process.env): string[] => [
  ...(env.OS_CLIENT_CONFIG_FILE ? [env.OS_CLIENT_CONFIG_FILE] : []),
  join(process.cwd(), 'clouds.yaml'),
  join(homedir(), '.config', 'openstack', 'clouds.yaml'),
  '/etc/openstack/clouds.yaml',
];

const checked = (entry: unknown, where: string): CloudConfig => {
  const parsed = cloudConfigSchema.safeParse(entry);
  if (!parsed.success)
    throw new Error(
      `${where}: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || '(entry)'}: ${issue.message}`).join('; ')}`,
    );
  const auth = parsed.data.auth;
  const appCredential = auth.application_credential_id || auth.application_credential_name;
  if (!appCredential && !(auth.username || auth.user_id))
    throw new Error(`${where}: auth needs username (or user_id) and password, or an application credential`);
  return parsed.data;
};

/** The `OS_CLOUD` entry of the first clouds.yaml found (as the openstack CLI finds it). */
export const cloudFromFile = (name: string | undefined, env: NodeJS.ProcessEnv = process.env): CloudConfig => {
  if (!name) throw new Error('OS_CLOUD is not set: name the clouds.yaml entry to use (e.g. OS_CLOUD=fenix-admin)');
  const file = cloudsYamlPaths(env).find((path) => existsSync(path));
  if (!file)
    throw new Error(`no clouds.yaml found (looked in ${cloudsYamlPaths(env).join(', ')}); set OS_CLIENT_CONFIG_FILE`);
  const clouds = (parse(readFileSync(file, 'utf8')) as { clouds?: Record<string, unknown> } | null)?.clouds ?? {};
  if (!(name in clouds))
    throw new Error(`${file} has no cloud "${name}" (it has: ${Object.keys(clouds).join(', ') || 'none'})`);
  return checked(clouds[name], `${file} clouds.${name}`);
};

/** A cloud entry kept as a secret (AWS): its text is one clouds.yaml entry, in YAML or JSON. */
export const cloudFromText = (text: string, where: string): CloudConfig => {
  const value = parse(text) as unknown;
  // A whole clouds.yaml with exactly one cloud is accepted too.
  const clouds = (value as { clouds?: Record<string, unknown> } | null)?.clouds;
  if (clouds) {
    const entries = Object.values(clouds);
    if (entries.length !== 1) throw new Error(`${where}: holds ${entries.length} clouds; keep exactly one`);
    return checked(entries[0], where);
  }
  return checked(value, where);
};
