// Uses the generated modules (tests/contract/*.ts) the way a livekit-client app would;
// `tsc -p tsconfig.contract.json` (strict) must accept it. Each `@ts-expect-error` line
// must be an error, which proves the generated types are precise, not `any`.
import type { Room } from 'livekit-client';
import { ApplicationError, Geo, RpcCallError, type GeoError, type Place } from '../../contract/geo';
import { Robot, type ArmError, type CallStream, type JointState, type Pose, type StreamEnd } from '../../contract/robot';
import { Torture, type Shape } from '../../contract/torture';

export async function callGeo(room: Room): Promise<number> {
  const geo = Geo.client(room.localParticipant, 'agent', { responseTimeout: 5000 });
  const place: Place = await geo.locate({ city: 'Paris' });
  const population: number = place.population;
  const names: string[] = place.altNames;
  const nothing: void = await geo.reset();
  const bytes: number = await geo.measure({ text: 'hello' });

  // @ts-expect-error city must be a string
  await geo.locate({ city: 42 });
  // @ts-expect-error city is required
  await geo.locate({});
  // @ts-expect-error unknown argument keys are refused in literals
  await geo.locate({ city: 'Paris', country: 'FR' });
  // @ts-expect-error the result is a Place, not a string
  const wrong: string = await geo.locate({ city: 'Paris' });
  // @ts-expect-error reset resolves to void
  const count: number = await geo.reset();
  // @ts-expect-error there is no such method
  await geo.teleport({ city: 'Paris' });

  try {
    await geo.locate({ city: 'Atlantis' });
  } catch (e) {
    if (e instanceof RpcCallError) {
      const error = e as RpcCallError<GeoError>;
      const code: number = error.code;
      if (error.appError?.kind === 'unknown') {
        const city: string = error.appError.city;
        void city;
      } else if (error.appError?.kind === 'ambiguous') {
        const candidates: string[] = error.appError.candidates;
        void candidates;
      }
      void code;
    }
  }
  // @ts-expect-error GeoError has no kind "other"
  const bad: GeoError = { kind: 'other' };

  void [population, names, nothing, bytes, wrong, count, bad];
  return place.lat;
}

export function serveGeo(room: Room): () => void {
  const stop: () => void = Geo.serve(room, {
    locate: async ({ city }, invocation) => {
      if (city === 'Atlantis') {
        throw new ApplicationError<GeoError>({ kind: 'unknown', city }, { code: 4040 });
      }
      return { name: city, lat: 0, lon: 0, population: 1, altNames: [invocation.callerIdentity] };
    },
    reset: () => {},
    measure: ({ text }) => text.length,
  });
  // @ts-expect-error a locate handler must return a Place
  Geo.serve(room, { locate: async () => 'nowhere', reset: () => {}, measure: () => 1 });
  // @ts-expect-error every method needs a handler
  Geo.serve(room, { reset: () => {}, measure: () => 1 });
  return stop;
}

export async function callOthers(room: Room): Promise<void> {
  const robot = Robot.client(room.localParticipant, 'robot');
  const pose: Pose = await robot.moveArm({ joint: 2, angle: 41.5 });
  const snapshot: number[] = await robot.snapshot({ size: 16 });
  const whoami: string = await robot.whoami();
  // @ts-expect-error joint is a number
  await robot.moveArm({ joint: '2', angle: 41.5 });

  const torture = Torture.client(room.localParticipant, 'torture');
  const echoed: string = await torture.raw('anything, not JSON');
  const pair: [number, number] = await torture.big({ n: 1, data: [0, 255] });
  const shapes: Shape[] = await torture.draw({
    shape: { type: 'Circle', radius: 1 },
    id: 'bob',
    cmd: { t: 'Go', c: 3 },
    plain: { C: { x: -4 } },
  });
  const maybe: number | null = await torture.optional({});
  await torture.unit();
  await torture.configure({ settings: { maxSpeed: 3, ID: 5 }, dryRun: true });
  // @ts-expect-error no Triangle in Shape
  await torture.draw({ shape: { type: 'Triangle', side: 1 }, id: 1, cmd: { t: 'Stop' }, plain: 'A' });
  // @ts-expect-error a raw method takes a string
  await torture.raw({ payload: 'x' });
  void [pose, snapshot, whoami, echoed, pair, shapes, maybe];
}

// Streaming and cancellation: the client is made with the Room, which carries the
// typed_rpc streams; handlers return async iterables and see an AbortSignal.
export async function streamRobot(room: Room): Promise<number> {
  const robot = Robot.client(room, 'robot', { responseTimeout: 5000 });
  const readings: CallStream<JointState, ArmError> = await robot.watchJoint(
    { joint: 2, every_ms: 10, count: 5 },
    { windowItems: 8, idleTimeoutMs: 10000 },
  );
  let sum = 0;
  for await (const reading of readings) {
    const angle: number = reading.angle;
    sum += angle;
    if (reading.seq === 3) break; // cancels the stream at the robot
  }
  const ended: StreamEnd | undefined = readings.end;
  const abort = new AbortController();
  const calibrating = robot.calibrate({ millis: 1000 }, { signal: abort.signal });
  abort.abort();
  await calibrating.catch(() => undefined);
  for await (const reading of await robot.watchJoint({ joint: 1, every_ms: 1, count: 1 })) {
    // @ts-expect-error items are JointState, not strings
    const text: string = reading;
    void text;
  }
  // @ts-expect-error a streaming method takes its arguments
  await robot.watchJoint();
  // @ts-expect-error stream options are numbers
  await robot.watchJoint({ joint: 1, every_ms: 1, count: 1 }, { windowItems: 'many' });
  void ended;
  return sum;
}

export function serveRobot(room: Room): () => void {
  return Robot.serve(room, {
    moveArm: ({ joint, angle }) => ({ joint, angle }),
    snapshot: ({ size }) => new Array<number>(size).fill(7),
    whoami: (_args, invocation) => invocation.callerIdentity,
    calibrate: async ({ millis }, invocation) => {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, millis);
        invocation.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
    watchJoint: async function* ({ joint, count }, invocation) {
      for (let seq = 0; seq < count && !invocation.signal.aborted; seq++) {
        yield { joint, angle: 40 + seq, seq };
      }
    },
  });
}
