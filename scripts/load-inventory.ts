// `npm run --silent load-inventory -- --table <TableName> <inventory.json>`: loads (replaces) the
// simulated cloud of a deployed stack from an inventory file (DESIGN §6), with your AWS credentials.
// The local runtime does this itself from FENIX_INVENTORY.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SimCloud } from '../functions/adapters/sim-cloud.js';
import { dynamo } from '../functions/shared/clients.js';

const usage = 'usage: npm run --silent load-inventory -- --table <TableName> <inventory.json>';
try {
  const { values, positionals } = parseArgs({ options: { table: { type: 'string' } }, allowPositionals: true });
  const [file, ...more] = positionals;
  if (!values.table || file === undefined || more.length > 0) throw new Error('give --table and one inventory file');
  const inventory = JSON.parse(readFileSync(file, 'utf8'));
  await new SimCloud(dynamo(), values.table).load(inventory);
  console.log(
    `loaded ${inventory.hosts.length} hosts and ${inventory.instances?.length ?? 0} instances into ${values.table}`,
  );
} catch (error) {
  console.error(`load-inventory: ${error instanceof Error ? error.message : String(error)}\n${usage}`);
  process.exit(1);
}
