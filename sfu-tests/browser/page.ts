// livekit-client 2.23.0 in headless Chromium, through the TypeScript module this project
// generates from the Rust `Robot` trait (tests/contract/robot.ts). driver.mjs hands it the
// same JSON commands as ../python/peer.py and ../node/peer.mjs.
import { Room, RpcError } from 'livekit-client';
import { ApplicationError, Robot, RpcCallError } from '../../tests/contract/robot';
import type { ArmError, Pose, RobotHandlers } from '../../tests/contract/robot';

type Command = {
  cmd: string;
  url?: string;
  token?: string;
  identity?: string;
  dest?: string;
  method?: string;
  args?: Record<string, number>;
  payload?: string;
  timeout?: number;
  calls?: number;
  echo_bytes?: number;
  echo_rounds?: number;
  joint?: number;
  every_ms?: number;
  count?: number;
  take?: number;
  millis?: number;
  after_ms?: number;
};

type Answer =
  | { ok: true; value: unknown }
  | { ok: false; code?: number; message?: string; data?: string | null; app_error?: ArmError | null; exception?: string };

const room = new Room();
let stopServing: (() => void) | undefined;
// Why streams and cancellable calls stopped early, as the handlers saw it.
const stops: string[] = [];

const arm: RobotHandlers = {
  moveArm({ joint, angle }): Pose {
    if (angle > 90) {
      const reason: ArmError = { OutOfReach: { joint, max_angle: 90 } };
      throw new ApplicationError(reason, { code: 4001 });
    }
    return { joint, angle };
  },
  snapshot({ size }) {
    return Array.from({ length: size }, (_, i) => (i * 7) % 251);
  },
  whoami(_args, invocation) {
    return `browser sees ${invocation.callerIdentity}`;
  },
  async calibrate({ millis }, invocation) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, millis);
      invocation.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        stops.push(`calibrate:${String(invocation.signal.reason)}`);
        resolve();
      });
    });
  },
  // Checked before the generator is returned, so a bad joint refuses the call itself.
  watchJoint({ joint, every_ms, count }, invocation) {
    if (joint > 5) {
      const reason: ArmError = { NoSuchJoint: { joint } };
      throw new ApplicationError(reason, { code: 4004 });
    }
    invocation.signal.addEventListener('abort', () => stops.push(`watch:${String(invocation.signal.reason)}`));
    return (async function* () {
      for (let seq = 0; seq < count; seq++) {
        if (seq > 0) await new Promise((r) => setTimeout(r, every_ms));
        yield { joint, angle: 40 + (seq % 10) * 0.5, seq };
      }
    })();
  },
};

async function watch(c: Command): Promise<unknown> {
  const robot = Robot.client(room, need(c.dest, 'dest'), { responseTimeout: 30_000 });
  const stream = await robot.watchJoint(
    { joint: need(c.joint, 'joint'), every_ms: need(c.every_ms, 'every_ms'), count: need(c.count, 'count') },
    { windowItems: 8 },
  );
  const seqs: number[] = [];
  for await (const reading of stream) {
    seqs.push(reading.seq);
    if (c.take !== undefined && seqs.length >= c.take) break;
  }
  return { seqs, end: stream.end ?? null };
}

async function calibrateCancel(c: Command): Promise<unknown> {
  const abort = new AbortController();
  const started = Date.now();
  setTimeout(() => abort.abort(), need(c.after_ms, 'after_ms'));
  try {
    await Robot.client(room, need(c.dest, 'dest')).calibrate({ millis: need(c.millis, 'millis') }, { signal: abort.signal });
    return { cancelled: false };
  } catch {
    return { cancelled: true, ms: Date.now() - started };
  }
}

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the command has no ${what}`);
  return value;
}

async function waitFor(identity: string, timeoutSeconds: number): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  while (!room.remoteParticipants.has(identity)) {
    if (Date.now() > deadline) throw new Error(`${identity} did not join within ${timeoutSeconds} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function typedCall(dest: string, method: string, args: Record<string, number>): Promise<unknown> {
  const robot = Robot.client(room.localParticipant, dest, { responseTimeout: 30_000 });
  switch (method) {
    case 'move_arm':
      return await robot.moveArm({ joint: need(args.joint, 'joint'), angle: need(args.angle, 'angle') });
    case 'snapshot': {
      const data = await robot.snapshot({ size: need(args.size, 'size') });
      return { len: data.length, pattern_ok: data.every((b, i) => b === (i * 7) % 251) };
    }
    case 'whoami':
      return await robot.whoami();
    case 'calibrate':
      await robot.calibrate({ millis: need(args.millis, 'millis') });
      return null;
    default:
      throw new Error(`no typed method ${method}`);
  }
}

async function bench(dest: string, calls: number, echoBytes: number, rounds: number) {
  const lp = room.localParticipant;
  const times: number[] = [];
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
  const random = new Uint8Array((echoBytes * 3) / 4);
  for (let i = 0; i < random.length; i += 65536) crypto.getRandomValues(random.subarray(i, i + 65536));
  let binary = '';
  for (let i = 0; i < random.length; i += 8192) binary += String.fromCharCode(...random.subarray(i, i + 8192));
  const b64 = btoa(binary);
  const medians: number[] = [];
  for (const payload of [letters, b64]) {
    const echoes: number[] = [];
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

async function run(c: Command): Promise<unknown> {
  switch (c.cmd) {
    case 'join':
      await room.connect(need(c.url, 'url'), need(c.token, 'token'));
      return room.localParticipant.identity;
    case 'serve':
      stopServing = Robot.serve(room, arm);
      return null;
    case 'unserve':
      stopServing?.();
      return null;
    case 'serve_echo':
      room.registerRpcMethod('bench.echo', async (data) => data.payload);
      return null;
    case 'wait_for':
      await waitFor(need(c.identity, 'identity'), c.timeout ?? 15);
      return null;
    case 'call':
      return await typedCall(need(c.dest, 'dest'), need(c.method, 'method'), c.args ?? {});
    case 'raw':
      return await room.localParticipant.performRpc({
        destinationIdentity: need(c.dest, 'dest'),
        method: need(c.method, 'method'),
        payload: need(c.payload, 'payload'),
        responseTimeout: (c.timeout ?? 15) * 1000,
      });
    case 'watch':
      return await watch(c);
    case 'calibrate_cancel':
      return await calibrateCancel(c);
    case 'stops':
      return stops;
    case 'bench':
      return await bench(need(c.dest, 'dest'), need(c.calls, 'calls'), need(c.echo_bytes, 'echo_bytes'), c.echo_rounds ?? 1);
    case 'leave':
      await room.disconnect();
      return null;
    default:
      throw new Error(`unknown command ${c.cmd}`);
  }
}

async function answer(c: Command): Promise<Answer> {
  try {
    return { ok: true, value: await run(c) };
  } catch (error) {
    if (error instanceof RpcCallError) {
      const typed = error as RpcCallError<ArmError>;
      return { ok: false, code: typed.code, message: typed.message, data: typed.data ?? null, app_error: typed.appError ?? null };
    }
    if (error instanceof RpcError) {
      return { ok: false, code: error.code, message: error.message, data: error.data ?? null };
    }
    return { ok: false, exception: String(error) };
  }
}

(window as unknown as { peer: { answer: typeof answer } }).peer = { answer };
