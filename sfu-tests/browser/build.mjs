// Bundles page.ts, the generated module it imports and livekit-client into dist/page.js
// for the browser. `livekit-client` resolves from this package's node_modules, also for
// the generated module under tests/contract/.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

await build({
  entryPoints: ['page.ts'],
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  outfile: 'dist/page.js',
  logLevel: 'warning',
  nodePaths: [fileURLToPath(new URL('./node_modules', import.meta.url))],
});
