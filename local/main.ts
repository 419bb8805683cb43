/**
 * `npm start`: the local runtime (DESIGN §7). Settings come from the environment:
 *   PORT (12347), FENIX_DATA_DIR (.fenix-data), FENIX_INVENTORY, FENIX_SUBSCRIPTIONS,
 *   FENIX_PROJECT_MAINTENANCE_REPLY (20 s), FENIX_PROJECT_SCALE_IN_REPLY (60 s) and the other
 *   FENIX_* workflow settings, which the handlers read just as they do in Lambda.
 *   FENIX_AUTH: `jwt` (default: local bearer tokens, `npm run token`) or `keystone` (`X-Auth-Token:
 *   <Keystone token>`, validated against FENIX_KEYSTONE_URL, e.g. http://127.0.0.1:5000/v3).
 */
// Handler logs are structured JSON; locally only warnings and errors unless asked for more.
process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
const { authFromEnv, startRuntime } = await import('./runtime.js');
const port = Number(process.env.PORT ?? 12347);
try {
  const runtime = await startRuntime({
    auth: authFromEnv(),
    port,
    dataDir: process.env.FENIX_DATA_DIR ?? '.fenix-data',
    inventoryFile: process.env.FENIX_INVENTORY || undefined,
    subscriptionsFile: process.env.FENIX_SUBSCRIPTIONS || undefined,
  });
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`fenix: ${signal}, stopping`);
    await runtime.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  console.log(`fenix: data in ${runtime.dataDir}, events in ${runtime.dataDir}/events.ndjson`);
  if (runtime.keystoneEndpoint)
    console.log(`fenix: callers send X-Auth-Token: <Keystone token>, validated at ${runtime.keystoneEndpoint}`);
  console.log(`Fenix API listening on ${runtime.url}`);
} catch (error) {
  console.error(`fenix: could not start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
