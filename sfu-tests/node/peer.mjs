// A @livekit/rtc-node participant driven by a Rust test, one JSON command per stdin line;
// each answer is one stdout line prefixed with `@@ ` (the SDK's own logs go elsewhere).
// It speaks the same commands as ../python/peer.py. rtc-node has no generated module of
// ours (the TypeScript one is for livekit-client), so its calls and handlers are raw JSON,
// written against the `Robot` contract by hand.
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { Room, RpcError } from '@livekit/rtc-node';
import { AccessToken } from 'livekit-server-sdk';

const room = new Room();

async function token(identity, roomName) {
  const at = new AccessToken(process.env.LIVEKIT_API_KEY, process.env.LIVEKIT_API_SECRET, { identity });
  at.addGrant({ roomJoin: true, room: roomName, canUpdateOwnMetadata: true });
  return await at.toJwt();
}

const robot = {
  'robot.move_arm': (args, data) => {
    if (args.angle > 90) {
      throw new RpcError(4001, 'Application error in method handler',
        JSON.stringify({ OutOfReach: { joint: args.joint, max_angle: 90 } }));
    }
    return { joint: args.joint, angle: args.angle };
  },
  'robot.snapshot': (args) => Array.from({ length: args.size }, (_, i) => (i * 7) % 251),
  'robot.whoami': (_args, data) => `node sees ${data.callerIdentity}`,
  'robot.calibrate': async (args) => { await new Promise((r) => setTimeout(r, args.millis)); return null; },
};

async function waitFor(identity, timeout) {
  const deadline = Date.now() + timeout * 1000;
  while (!room.remoteParticipants.has(identity)) {
    if (Date.now() > deadline) throw new Error(`${identity} did not join within ${timeout} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function bench(dest, calls, echoBytes, rounds) {
  const lp = room.localParticipant;
  const times = [];
  for (let i = 0; i < calls; i++) {
    const start = performance.now();
    await lp.performRpc({ destinationIdentity: dest, method: 'bench.echo', payload: 'ping' });
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  // Letters in a pattern: DEFLATE shrinks them to almost nothing.
  let letters = '';
  for (let i = 0; i < echoBytes; i++) letters += String.fromCharCode(97 + ((i * 7) % 26));
  // Base64 of random bytes: what DEFLATE barely shrinks.
  const b64 = randomBytes((echoBytes * 3) / 4).toString('base64');
  const medians = [];
  for (const payload of [letters, b64]) {
    const echoes = [];
    for (let r = 0; r < rounds; r++) {
      const start = performance.now();
      const reply = await lp.performRpc({ destinationIdentity: dest, method: 'bench.echo', payload, responseTimeout: 60000 });
      echoes.push((performance.now() - start) / 1000);
      if (reply !== payload) throw new Error('the echo came back different');
    }
    echoes.sort((a, b) => a - b);
    medians.push(echoes[Math.floor(echoes.length / 2)]);
  }
  return {
    p50_ms: times[Math.floor(times.length / 2)],
    p99_ms: times[Math.min(times.length - 1, Math.floor((times.length * 99) / 100))],
    echo_s: medians[0],
    echo_b64_s: medians[1],
  };
}

async function run(cmd) {
  switch (cmd.cmd) {
    case 'join':
      await room.connect(cmd.url, await token(cmd.identity, cmd.room), { autoSubscribe: true, dynacast: false });
      return room.localParticipant.identity;
    case 'serve':
      for (const [method, handler] of Object.entries(robot)) {
        room.localParticipant.registerRpcMethod(method, async (data) => {
          const args = data.payload.trim() === '' ? {} : JSON.parse(data.payload);
          const value = await handler(args, data);
          return value === null ? '' : JSON.stringify(value);
        });
      }
      return null;
    case 'serve_echo':
      room.localParticipant.registerRpcMethod('bench.echo', async (data) => data.payload);
      return null;
    case 'wait_for':
      await waitFor(cmd.identity, cmd.timeout ?? 15);
      return null;
    case 'raw':
      return await room.localParticipant.performRpc({
        destinationIdentity: cmd.dest,
        method: cmd.method,
        payload: cmd.payload,
        responseTimeout: (cmd.timeout ?? 15) * 1000,
      });
    case 'bench':
      return await bench(cmd.dest, cmd.calls, cmd.echo_bytes, cmd.echo_rounds ?? 1);
    case 'peak_rss_kib':
      return Math.round(process.resourceUsage().maxRSS);
    case 'leave':
      await room.disconnect();
      return null;
    default:
      throw new Error(`unknown command ${cmd.cmd}`);
  }
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const cmd = JSON.parse(line);
  let answer;
  try {
    answer = { ok: true, value: await run(cmd) };
  } catch (error) {
    answer = error instanceof RpcError || (error && typeof error.code === 'number')
      ? { ok: false, code: error.code, message: error.message, data: error.data ?? null }
      : { ok: false, exception: String(error) };
  }
  process.stdout.write(`@@ ${JSON.stringify(answer)}\n`);
  if (cmd.cmd === 'leave') break;
}
process.exit(0);
