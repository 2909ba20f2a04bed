// Runs dist/page.js in Debian's headless Chromium (playwright-core drives it; no browser
// download) from a page served on 127.0.0.1, and passes it the JSON commands of a Rust
// test: one per stdin line, each answer one stdout line prefixed with `@@ `.
import { createServer } from 'node:http';
import { readFile, readdir } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const here = new URL('.', import.meta.url);

const files = {
  '/': ['text/html', '<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>'],
  '/page.js': ['text/javascript', await readFile(new URL('dist/page.js', here), 'utf8')],
};
const http = createServer((req, res) => {
  const file = files[req.url ?? '/'];
  if (!file) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': file[0] }).end(file[1]);
});
await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${http.address().port}`;

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    // Host candidates as plain addresses, not mDNS names nobody here resolves.
    '--disable-features=WebRtcHideLocalIpsWithMdns',
    '--allow-loopback-in-peer-connection',
  ],
});
// Chromium is several processes: its peak memory is the sum of each one's peak (VmHWM).
async function chromiumPeakRssKib() {
  const parents = new Map();
  const peaks = new Map();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = await readFile(`/proc/${entry}/status`, 'utf8');
      parents.set(entry, /PPid:\s+(\d+)/.exec(status)?.[1]);
      peaks.set(entry, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0));
    } catch {
      // The process ended meanwhile.
    }
  }
  const root = String(process.pid);
  const underRoot = (pid) => {
    for (let p = parents.get(pid); p !== undefined; p = parents.get(p)) if (p === root) return true;
    return false;
  };
  let total = 0;
  for (const [pid, peak] of peaks) if (underRoot(pid)) total += peak;
  return total;
}

const page = await browser.newPage();
page.on('console', (msg) => process.stderr.write(`[page ${msg.type()}] ${msg.text()}\n`));
page.on('pageerror', (error) => process.stderr.write(`[page error] ${error}\n`));
await page.goto(origin);
await page.waitForFunction(() => window.peer !== undefined);

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const cmd = JSON.parse(line);
  let answer;
  if (cmd.cmd === 'peak_rss_kib') {
    answer = { ok: true, value: await chromiumPeakRssKib() };
  } else {
    try {
      answer = await page.evaluate((c) => window.peer.answer(c), cmd);
    } catch (error) {
      answer = { ok: false, exception: String(error) };
    }
  }
  process.stdout.write(`@@ ${JSON.stringify(answer)}\n`);
  if (cmd.cmd === 'leave') break;
}
await browser.close();
http.close();
process.exit(0);
