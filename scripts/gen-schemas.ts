// `npm run openapi`: writes docs/openapi.json (the OpenAPI 3.1 document GET /v1/openapi.json serves)
// and docs/events/<detail-type>.json (JSON Schema 2020-12 of each event), all generated from the zod
// schemas. `npm run openapi -- --check` writes nothing and exits 1 when a file is stale.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openApiDocument } from '../functions/api/get-openapi.js';
import { type DetailType, EVENT_SCHEMAS, eventJsonSchema } from '../functions/core/events.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Every generated file: repo-relative path → content (2-space JSON, trailing newline). */
export const generatedFiles = (): Record<string, string> => {
  const text = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
  const files: Record<string, string> = { 'docs/openapi.json': text(openApiDocument()) };
  for (const detailType of Object.keys(EVENT_SCHEMAS) as DetailType[])
    files[`docs/events/${detailType}.json`] = text(eventJsonSchema(detailType));
  return files;
};

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [path, content] of Object.entries(generatedFiles())) {
    const file = join(ROOT, path);
    let current: string | undefined;
    try {
      current = readFileSync(file, 'utf8');
    } catch {
      current = undefined;
    }
    if (current === content) continue;
    if (check) {
      console.error(`${path} is out of date: run npm run openapi`);
      stale++;
    } else {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, content);
      console.log(`wrote ${path}`);
    }
  }
  process.exit(stale ? 1 : 0);
}
