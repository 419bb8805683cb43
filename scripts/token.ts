// `npm run --silent token -- --admin | --project <id> [--ttl <seconds>]`: prints one line, a bearer
// token for the local runtime (keys live under $FENIX_DATA_DIR, default .fenix-data).
import { parseArgs } from 'node:util';
import { LocalKeys } from '../local/jwt.js';

const usage = 'usage: npm run --silent token -- --admin | --project <project_id> [--ttl <seconds>]';
try {
  const { values } = parseArgs({
    options: {
      admin: { type: 'boolean' },
      project: { type: 'string' },
      ttl: { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  if (Boolean(values.admin) === Boolean(values.project))
    throw new Error('give exactly one of --admin and --project <id>');
  const ttl = values.ttl === undefined ? undefined : Number(values.ttl);
  if (ttl !== undefined && (!Number.isInteger(ttl) || ttl <= 0))
    throw new Error('--ttl must be a whole number of seconds');
  const keys = LocalKeys.load(process.env.FENIX_DATA_DIR ?? '.fenix-data');
  console.log(await keys.issue({ admin: values.admin, project: values.project, ttlSeconds: ttl }));
} catch (error) {
  console.error(`token: ${error instanceof Error ? error.message : String(error)}\n${usage}`);
  process.exit(2);
}
