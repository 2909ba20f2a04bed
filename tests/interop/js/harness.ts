// A LiveKit participant made of livekit-client 2.23.0's own managers, joined to a room
// over the room wire bridge (SPEC section 5). The glue below only does what the SDK's
// Room and RTCEngine do around the managers: route incoming packets by kind, keep the
// remote participants' advertised client_protocol and capabilities, and send packets.
// It contains no RPC or data-stream logic of its own.
//
// Usage: node dist/harness.mjs <host:port> <identity> <client_protocol> <compression 0|1>
// Control: JSON lines on stdin (commands) and stdout (replies and events).

import * as net from 'node:net';
import * as readline from 'node:readline';
import {
  ClientInfo_Capability,
  DataPacket,
  Encryption_Type,
  ParticipantInfo,
  ParticipantInfo_State,
  UpdateParticipantMetadata,
} from '@livekit/protocol';
import IncomingDataStreamManager from './node_modules/livekit-client/src/room/data-stream/incoming/IncomingDataStreamManager';
import OutgoingDataStreamManager from './node_modules/livekit-client/src/room/data-stream/outgoing/OutgoingDataStreamManager';
import RpcClientManager from './node_modules/livekit-client/src/room/rpc/client/RpcClientManager';
import RpcServerManager from './node_modules/livekit-client/src/room/rpc/server/RpcServerManager';
import {
  RPC_REQUEST_DATA_STREAM_TOPIC,
  RPC_RESPONSE_DATA_STREAM_TOPIC,
  RpcError,
} from './node_modules/livekit-client/src/room/rpc/utils';
import { EventEmitter } from 'events';
// The generated TypeScript for the contract tests' `Geo` service, as committed.
import { ApplicationError, Geo, RpcCallError } from '../../contract/geo';
// And the quickstart's `Robot`, whose streaming and cancellable methods need the room.
import { ApplicationError as RobotError, Robot, type ArmError, type StreamingRoom } from '../../contract/robot';

const FRAME_JOIN = 0x01;
const FRAME_PARTICIPANT = 0x02;
const FRAME_DATA = 0x03;
const FRAME_ATTRIBUTES = 0x07;

const [address, identity, protocolArg, compressionArg] = process.argv.slice(2);
const [host, port] = address.split(':');
const clientProtocol = Number(protocolArg);
const compression = compressionArg === '1';

function emit(obj: unknown) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

const log = {
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: (...args: unknown[]) => emit({ event: 'log', level: 'warn', message: String(args[0]) }),
  error: (...args: unknown[]) => emit({ event: 'log', level: 'error', message: String(args[0]) }),
  setLevel: () => {},
  getLevel: () => 0,
} as any;

// --- the socket, framed as the bridge specifies
const socket = net.connect({ host, port: Number(port) });
socket.setNoDelay(true);

function sendFrame(kind: number, body: Uint8Array) {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(body.length + 1, 0);
  header.writeUInt8(kind, 4);
  socket.write(Buffer.concat([header, Buffer.from(body)]));
}

// What the Room keeps about remote participants: protocol and capabilities are read once,
// from the first ParticipantInfo, as RemoteParticipant's constructor does.
const remotes = new Map<string, { clientProtocol: number; capabilities: ClientInfo_Capability[] }>();

// What RTCEngine offers the managers: sendDataPacket on the reliable channel, and events.
class Engine extends EventEmitter {
  e2eeManager = undefined;
  serverVersion = undefined;
  packetsSent = 0;
  async sendDataPacket(packet: DataPacket) {
    this.packetsSent += 1;
    sendFrame(FRAME_DATA, packet.toBinary());
  }
}
const engine = new Engine();

const getProtocol = (id: string) => remotes.get(id)?.clientProtocol ?? 0;
const getCapabilities = (id: string) => remotes.get(id)?.capabilities ?? [];
const getAll = () => Array.from(remotes.keys());

const incoming = new IncomingDataStreamManager();
const outgoing = new OutgoingDataStreamManager(engine as any, log, getProtocol, getCapabilities, getAll);
const rpcClient = new RpcClientManager(log, outgoing, getProtocol, () => undefined);
const rpcServer = new RpcServerManager(log, outgoing, getProtocol);
rpcClient.on('sendDataPacket', ({ packet }) => engine.sendDataPacket(packet));
rpcServer.on('sendDataPacket', ({ packet }) => engine.sendDataPacket(packet));

// An SDK from before RPC v2 (protocol 0) had no handlers for the RPC topics.
if (clientProtocol >= 1) {
  incoming.registerTextStreamHandler(RPC_REQUEST_DATA_STREAM_TOPIC, async (reader, { identity }) => {
    await rpcServer.handleIncomingDataStream(reader, identity, reader.info.attributes ?? {});
  });
  incoming.registerTextStreamHandler(RPC_RESPONSE_DATA_STREAM_TOPIC, async (reader, { identity }) => {
    await rpcClient.handleIncomingDataStream(reader, identity, reader.info.attributes ?? {});
  });
}
incoming.registerTextStreamHandler('interop', async (reader, { identity }) => {
  const text = await reader.readAll();
  emit({ event: 'text_stream', from: identity, length: text.length, text: text.length <= 1000 ? text : undefined });
});
incoming.setConnected(true);

// Room.handleDataPacket, reduced to the kinds RPC and data streams use.
function handleDataPacket(packet: DataPacket) {
  const value = packet.value;
  if (value.case === 'rpcRequest') {
    rpcServer.handleIncomingRpcRequest(packet.participantIdentity, value.value);
  } else if (value.case === 'rpcResponse') {
    const response = value.value;
    switch (response.value.case) {
      case 'payload':
        rpcClient.handleIncomingRpcResponseSuccess(response.requestId, response.value.value);
        break;
      case 'error':
        rpcClient.handleIncomingRpcResponseFailure(response.requestId, RpcError.fromProto(response.value.value));
        break;
      default:
        log.warn(`Unknown rpcResponse.value.case: ${response.value.case}`);
    }
  } else if (value.case === 'rpcAck') {
    rpcClient.handleIncomingRpcAck(value.value.requestId);
  } else if (value.case === 'streamHeader' || value.case === 'streamChunk' || value.case === 'streamTrailer') {
    incoming.handleDataStreamPacket(packet, Encryption_Type.NONE);
  }
}

function handleParticipant(info: ParticipantInfo) {
  if (info.state === ParticipantInfo_State.DISCONNECTED) {
    remotes.delete(info.identity);
    incoming.validateParticipantHasNoActiveDataStreams(info.identity);
    rpcClient.handleParticipantDisconnected(info.identity);
    roomEvents.emit('participantDisconnected', { identity: info.identity });
    emit({ event: 'left', identity: info.identity });
  } else if (!remotes.has(info.identity)) {
    remotes.set(info.identity, { clientProtocol: info.clientProtocol, capabilities: [...info.capabilities] });
    emit({ event: 'joined', identity: info.identity, clientProtocol: info.clientProtocol, attributes: info.attributes });
  } else {
    // A known participant's info again is an attribute update (Room.handleParticipantUpdates).
    emit({ event: 'attributes', identity: info.identity, attributes: info.attributes });
  }
}

let buffered = Buffer.alloc(0);
socket.on('data', (data: Buffer) => {
  buffered = Buffer.concat([buffered, data]);
  while (buffered.length >= 4) {
    const len = buffered.readUInt32BE(0);
    if (buffered.length < 4 + len) break;
    const kind = buffered.readUInt8(4);
    const body = buffered.subarray(5, 4 + len);
    buffered = buffered.subarray(4 + len);
    if (kind === FRAME_DATA) handleDataPacket(DataPacket.fromBinary(body));
    else if (kind === FRAME_PARTICIPANT) handleParticipant(ParticipantInfo.fromBinary(body));
  }
});
socket.on('close', () => {
  emit({ event: 'closed' });
  process.exit(0);
});
socket.on('error', (e) => {
  emit({ event: 'log', level: 'error', message: String(e) });
  process.exit(1);
});

socket.on('connect', () => {
  const join = new ParticipantInfo({
    identity,
    clientProtocol,
    capabilities: compression ? [ClientInfo_Capability.CAP_COMPRESSION_DEFLATE_RAW] : [],
  });
  sendFrame(FRAME_JOIN, join.toBinary());
  emit({ event: 'ready', identity });
});

// --- handlers the Rust tests register by behaviour name
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const behaviours: Record<string, (data: any) => Promise<string>> = {
  echo: async (d) => d.payload,
  length: async (d) => String(new TextEncoder().encode(d.payload).length),
  // A typed method written by hand in JavaScript: {"a": n, "b": m} -> n + m as JSON.
  add: async (d) => {
    const { a, b } = JSON.parse(d.payload);
    return JSON.stringify(a + b);
  },
  invocation: async (d) =>
    JSON.stringify({ requestId: d.requestId, callerIdentity: d.callerIdentity, responseTimeout: d.responseTimeout, payloadLength: d.payload.length }),
  'app-error': async () => {
    throw new RpcError(4001, 'arm is out of reach', JSON.stringify({ OutOfReach: { joint: 3, limit: 90 } }));
  },
  throw: async () => {
    throw new Error('handler blew up');
  },
  slow: async (d) => {
    await sleep(Number(d.payload));
    return 'done';
  },
  big: async (d) => 'x'.repeat(Number(d.payload)),
};

// What `room.localParticipant` and `room` offer a generated module, over the same managers
// (LocalParticipant.performRpc resolves with the completion; Room delegates registration).
const caller = {
  performRpc: async (params: { destinationIdentity: string; method: string; payload: string; responseTimeout?: number }) => {
    const [, completion] = await rpcClient.performRpc(params);
    return completion;
  },
};
const registrar = {
  registerRpcMethod: (method: string, handler: (data: any) => Promise<string>) => rpcServer.registerRpcMethod(method, handler),
  unregisterRpcMethod: (method: string) => rpcServer.unregisterRpcMethod(method),
};
// What `room` offers a module that streams: Room delegates text streams to the same
// managers (registerTextStreamHandler, LocalParticipant.sendText/streamText) and emits
// participantDisconnected.
const roomEvents = new EventEmitter();
const room: StreamingRoom = {
  ...registrar,
  localParticipant: {
    ...caller,
    sendText: (text, options) => outgoing.sendText(text, options),
    streamText: (options) => outgoing.streamText(options),
  },
  registerTextStreamHandler: (topic, handler) => incoming.registerTextStreamHandler(topic, handler),
  on: (event: string, listener: (p: { identity: string }) => void) => roomEvents.on(event, listener),
} as StreamingRoom;
let stopRobot: (() => void) | undefined;

function callError(e: any) {
  return {
    error: { code: e.code ?? 0, message: e.message, data: e.data ?? null },
    appError: e.appError ?? null,
    isRpcCallError: e instanceof RpcCallError || e?.name === 'RpcCallError',
  };
}

async function robotWatch(cmd: any): Promise<unknown> {
  const robot = Robot.client(room, cmd.destination);
  const seqs: number[] = [];
  let stream;
  try {
    stream = await robot.watchJoint({ joint: cmd.joint, every_ms: cmd.every_ms, count: cmd.count }, { windowItems: cmd.window ?? 64 });
  } catch (e: any) {
    return { opened: false, ...callError(e) };
  }
  try {
    for await (const reading of stream) {
      seqs.push(reading.seq);
      if (cmd.take !== undefined && seqs.length >= cmd.take) break;
    }
  } catch (e: any) {
    return { opened: true, seqs, end: stream.end ?? null, ...callError(e) };
  }
  return { opened: true, seqs, end: stream.end ?? null };
}

function serveRobot() {
  stopRobot = Robot.serve(room, {
    moveArm: ({ joint, angle }) => {
      if (angle > 90) throw new RobotError<ArmError>({ OutOfReach: { joint, max_angle: 90 } }, { code: 4001 });
      return { joint, angle };
    },
    snapshot: ({ size }) => new Array<number>(size).fill(7),
    whoami: (_args, invocation) => invocation.callerIdentity,
    calibrate: async ({ millis }, invocation) => {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, millis);
        invocation.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          emit({ event: 'calibrate_cancelled', reason: String(invocation.signal.reason) });
          resolve();
        });
      });
    },
    // Checked before the generator is returned, so a bad joint refuses the call itself;
    // a throw inside the generator would end an accepted stream with the typed error.
    watchJoint: ({ joint, every_ms, count }, invocation) => {
      if (joint > 5) throw new RobotError<ArmError>({ NoSuchJoint: { joint } }, { code: 4004 });
      invocation.signal.addEventListener('abort', () =>
        emit({ event: 'watch_stopped', reason: String(invocation.signal.reason) }),
      );
      return (async function* () {
        for (let seq = 0; seq < count; seq++) {
          if (seq > 0) await new Promise((r) => setTimeout(r, every_ms));
          yield { joint, angle: 40 + (seq % 10) * 0.5, seq };
        }
      })();
    },
  });
}

let stopGeo: (() => void) | undefined;
let geoResets = 0;

async function geoCall(cmd: any): Promise<unknown> {
  const geo = Geo.client(caller, cmd.destination, { responseTimeout: cmd.responseTimeout });
  switch (cmd.op) {
    case 'locate':
      return await geo.locate({ city: cmd.city });
    case 'reset':
      return await geo.reset();
    case 'measure':
      return await geo.measure({ text: cmd.fill ? 'é'.repeat(cmd.fill) : cmd.text });
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

function serveGeo() {
  stopGeo = Geo.serve(registrar, {
    locate: async ({ city }, invocation) => {
      if (city === 'Atlantis') {
        throw new ApplicationError({ kind: 'unknown', city }, { code: 4040, message: `no city called ${city}` });
      }
      return { name: city, lat: 48.85, lon: 2.35, population: 2_100_000, altNames: [`${city} (via ${invocation.callerIdentity})`] };
    },
    reset: () => {
      geoResets += 1;
    },
    measure: ({ text }) => new TextEncoder().encode(text).length,
  });
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  const cmd = JSON.parse(line);
  try {
    if (cmd.cmd === 'register') {
      rpcServer.registerRpcMethod(cmd.method, behaviours[cmd.behaviour]);
      emit({ id: cmd.id, ok: 'registered' });
    } else if (cmd.cmd === 'call') {
      const started = Date.now();
      const sentBefore = engine.packetsSent;
      try {
        const [, completion] = await rpcClient.performRpc({
          destinationIdentity: cmd.destination,
          method: cmd.method,
          payload: cmd.payload,
          responseTimeout: cmd.responseTimeout,
        });
        const result = await completion;
        emit({ id: cmd.id, ok: result, ms: Date.now() - started, packets: engine.packetsSent - sentBefore });
      } catch (e: any) {
        emit({ id: cmd.id, error: { code: e.code ?? 0, message: e.message, data: e.data ?? null } });
      }
    } else if (cmd.cmd === 'bench_calls') {
      // `count` sequential calls, timed here so the measurement excludes the control pipe.
      const started = process.hrtime.bigint();
      for (let i = 0; i < cmd.count; i++) {
        const [, completion] = await rpcClient.performRpc({
          destinationIdentity: cmd.destination,
          method: cmd.method,
          payload: cmd.payload,
        });
        await completion;
      }
      emit({ id: cmd.id, ok: String(process.hrtime.bigint() - started) });
    } else if (cmd.cmd === 'send_text') {
      const info = await outgoing.sendText(cmd.text, { topic: 'interop', destinationIdentities: cmd.destinations });
      emit({ id: cmd.id, ok: info.id });
    } else if (cmd.cmd === 'protocol_of') {
      emit({ id: cmd.id, ok: String(getProtocol(cmd.identity)) });
    } else if (cmd.cmd === 'set_attributes') {
      sendFrame(FRAME_ATTRIBUTES, new UpdateParticipantMetadata({ attributes: cmd.attributes }).toBinary());
      emit({ id: cmd.id, ok: 'sent' });
    } else if (cmd.cmd === 'geo_call') {
      try {
        const value = await geoCall(cmd);
        emit({ id: cmd.id, ok: 'called', value: value === undefined ? null : value, undefined: value === undefined });
      } catch (e: any) {
        emit({
          id: cmd.id,
          error: { code: e.code ?? 0, message: e.message, data: e.data ?? null },
          appError: e.appError ?? null,
          isRpcCallError: e instanceof RpcCallError,
          method: e.method ?? null,
        });
      }
    } else if (cmd.cmd === 'robot_watch') {
      emit({ id: cmd.id, ok: 'watched', ...(await robotWatch(cmd) as object) });
    } else if (cmd.cmd === 'robot_calibrate') {
      const abort = new AbortController();
      const started = Date.now();
      const call = Robot.client(room, cmd.destination).calibrate({ millis: cmd.millis }, { signal: abort.signal });
      if (cmd.abort_after !== undefined) setTimeout(() => abort.abort(), cmd.abort_after);
      try {
        await call;
        emit({ id: cmd.id, ok: 'calibrated', ms: Date.now() - started });
      } catch (e: any) {
        emit({ id: cmd.id, ok: 'failed', ms: Date.now() - started, ...callError(e) });
      }
    } else if (cmd.cmd === 'robot_serve') {
      serveRobot();
      emit({ id: cmd.id, ok: 'serving' });
    } else if (cmd.cmd === 'robot_stop') {
      stopRobot?.();
      emit({ id: cmd.id, ok: 'stopped' });
    } else if (cmd.cmd === 'geo_serve') {
      serveGeo();
      emit({ id: cmd.id, ok: 'serving' });
    } else if (cmd.cmd === 'geo_stop') {
      stopGeo?.();
      emit({ id: cmd.id, ok: 'stopped', resets: geoResets });
    } else if (cmd.cmd === 'leave') {
      socket.end();
    }
  } catch (e: any) {
    emit({ id: cmd.id, error: { code: -1, message: String(e?.message ?? e), data: null } });
  }
});
