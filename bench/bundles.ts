import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { median, round } from './lib/stats.js';

/**
 * Lambda bundles as CDK's NodejsFunction builds them (infra/constructs/service-function.ts):
 * esbuild, platform node, ESM, target node22, module/main fields, createRequire banner, keepNames,
 * minify, linked source map, @aws-sdk/* external (the runtime provides it). For each bundle: its
 * size, and its cold import time in a fresh `node` process (median of 5), plain and with
 * --enable-source-maps (the NODE_OPTIONS the functions are deployed with). The @aws-sdk modules a
 * bundle imports are loaded from node_modules, as Lambda loads them from its runtime; the import
 * time of those alone is reported too.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BANNER = "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

export const entries = (root = ROOT): string[] => [
  ...readdirSync(join(root, 'functions', 'api'))
    .filter((file) => file.endsWith('.ts'))
    .sort()
    .map((file) => `functions/api/${file}`),
  'functions/workflow/handler.ts',
  'functions/plugins/dummy.ts',
];

const ENV = {
  ...process.env,
  AWS_REGION: 'us-east-1',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  POWERTOOLS_SERVICE_NAME: 'fenix',
  NODE_OPTIONS: '',
};

/** Milliseconds to import `specifiers` in a fresh node process, measured inside it. */
const importMs = (specifiers: string[], flags: string[] = []): number => {
  const script = `const t = performance.now(); ${specifiers.map((s) => `await import(${JSON.stringify(s)});`).join(' ')} process.stdout.write(String(performance.now() - t));`;
  const result = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', script], {
    env: ENV,
    encoding: 'utf8',
    cwd: ROOT,
  });
  if (result.status !== 0) throw new Error(`import of ${specifiers.join(', ')} failed: ${result.stderr}`);
  return Number(result.stdout);
};

export interface BundleResult {
  entry: string;
  bytes: number;
  kb: number;
  sourceMapKb: number;
  sdkImports: string[];
  importMs: number;
  importWithSourceMapsMs: number;
  sdkOnlyImportMs: number;
  /** What fills the bundle: KB in the output per package (or `functions/` for our own code). */
  largestParts: { part: string; kb: number }[];
}

export const benchBundles = async (options: {
  runs: number;
  log: (line: string) => void;
  root?: string;
}): Promise<BundleResult[]> => {
  const root = options.root ?? ROOT;
  const out = mkdtempSync(join(tmpdir(), 'fenix-bundles-'));
  // The bundles import @aws-sdk/* at run time: let them resolve the project's node_modules.
  symlinkSync(join(root, 'node_modules'), join(out, 'node_modules'), 'dir');
  const results: BundleResult[] = [];
  try {
    for (const entry of entries(root)) {
      const dir = join(out, basename(entry, '.ts'));
      mkdirSync(dir);
      const outfile = join(dir, 'index.mjs');
      const built = await build({
        entryPoints: [join(root, entry)],
        outfile,
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node22',
        mainFields: ['module', 'main'],
        banner: { js: BANNER },
        keepNames: true,
        minify: true,
        sourcemap: true,
        external: ['@aws-sdk/*'],
        metafile: true,
        logLevel: 'silent',
      });
      const sdkImports = [
        ...new Set(
          Object.values(built.metafile.outputs)
            .flatMap((output) => output.imports)
            .filter((i) => i.external && i.path.startsWith('@aws-sdk/'))
            .map((i) => i.path),
        ),
      ].sort();
      const parts = new Map<string, number>();
      for (const output of Object.values(built.metafile.outputs)) {
        for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
          const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
          const part = match?.[1] ?? input.split('/')[0] ?? input;
          parts.set(part, (parts.get(part) ?? 0) + bytesInOutput);
        }
      }
      const largestParts = [...parts]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 5)
        .map(([part, bytes]) => ({ part, kb: round(bytes / 1024, 1) }));
      const url = pathToFileURL(outfile).href;
      const plain: number[] = [];
      const mapped: number[] = [];
      const sdk: number[] = [];
      for (let run = 0; run < options.runs; run++) {
        plain.push(importMs([url]));
        mapped.push(importMs([url], ['--enable-source-maps']));
        // The SDK packages resolve from the repository root (cwd) just as from the bundle's folder.
        if (sdkImports.length) sdk.push(importMs(sdkImports));
      }
      const bytes = statSync(outfile).size;
      const result: BundleResult = {
        entry: relative(root, join(root, entry)),
        bytes,
        kb: round(bytes / 1024, 1),
        sourceMapKb: round(statSync(`${outfile}.map`).size / 1024, 1),
        sdkImports,
        importMs: round(median(plain), 1),
        importWithSourceMapsMs: round(median(mapped), 1),
        sdkOnlyImportMs: sdk.length ? round(median(sdk), 1) : 0,
        largestParts,
      };
      results.push(result);
      options.log(
        `bundle ${entry}: ${result.kb} KB, import ${result.importMs} ms (${result.importWithSourceMapsMs} ms with source maps; SDK alone ${result.sdkOnlyImportMs} ms); largest: ${largestParts.map((p) => `${p.part} ${p.kb} KB`).join(', ')}`,
      );
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  return results;
};
