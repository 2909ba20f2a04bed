// Bundles harness.ts together with the SDK's shipped TypeScript sources (src/), so the
// interop tests run livekit-client's own RpcClientManager, RpcServerManager and data-stream
// managers, not a reimplementation.
import { build } from 'esbuild';

await build({
  entryPoints: ['harness.ts'],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile: 'dist/harness.mjs',
  logLevel: 'warning',
  // Generated contract modules (tests/contract/*.ts) import livekit-client as an app would.
  alias: { 'livekit-client': './livekit-client-shim.ts' },
  banner: {
    js: "import { createRequire as __lkCreateRequire } from 'module'; const require = __lkCreateRequire(import.meta.url);",
  },
});
