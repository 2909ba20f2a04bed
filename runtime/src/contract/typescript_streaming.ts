// --- typed_rpc v1: streaming results and cancellation (see livekit_typed_rpc::streaming)

/** An incoming text stream as livekit-client's `TextStreamReader` delivers it. */
export interface TypedRpcTextReader extends AsyncIterable<string> {
  readonly info: { attributes?: Record<string, string> };
  readAll(): Promise<string>;
}

/** Options of a text stream, as livekit-client's `sendText` and `streamText` take them. */
export interface TypedRpcTextOptions {
  topic?: string;
  destinationIdentities?: string[];
  attributes?: Record<string, string>;
}

/** What streams and cancellation need of the local participant: `room.localParticipant`. */
export interface StreamingParticipant extends RpcCaller {
  sendText(text: string, options?: TypedRpcTextOptions): Promise<unknown>;
  streamText(options?: TypedRpcTextOptions): Promise<{ write(text: string): Promise<void>; close(): Promise<void> }>;
}

/** What streams and cancellation need of the room: livekit-client's `Room` satisfies it. */
export interface StreamingRoom extends RpcRegistrar {
  readonly localParticipant: StreamingParticipant;
  registerTextStreamHandler(
    topic: string,
    handler: (reader: TypedRpcTextReader, participant: { identity: string }) => void,
  ): void;
}

/** How a caller wants a stream run (the Rust side's `StreamConfig`). */
export interface StreamOptions extends CallOptions {
  /** Fail after this long without a record; the server sends heartbeats (default 30 000 ms). */
  idleTimeoutMs?: number;
  /** End the stream this long after it opened. */
  deadlineMs?: number;
  /** Items the server may send ahead of what was consumed (default 64). */
  windowItems?: number;
  /** Item bytes the server may send ahead (default 262 144). */
  windowBytes?: number;
  /** Aborting it cancels the stream at the server. */
  signal?: AbortSignal;
}

/** Options of a cancellable call. */
export interface CancellableCallOptions extends CallOptions {
  /** Aborting it rejects the call and cancels the handler at the server. */
  signal?: AbortSignal;
}

/** What a streaming or cancellable handler gets: the call, and a signal that aborts when
 * nobody waits for its result any more (cancelled, caller left, deadline). */
export interface CancellableInvocation extends RpcInvocation {
  signal: AbortSignal;
}

/** How a stream ended. */
export type StreamEnd = 'completed' | 'failed' | 'cancelled' | 'data_loss' | 'timed_out' | 'broken';

const WIRE_VERSION = 1;
const STREAM_TOPIC = 'typed_rpc.stream';
const CONTROL_TOPIC = 'typed_rpc.ctl';
const HUB_KEY = Symbol.for('livekit-typed-rpc/typed_rpc.v1');
const encoder = new TextEncoder();

interface WireStreamParams {
  idle_ms: number;
  deadline_ms: number | null;
  window_items: number;
  window_bytes: number;
}

interface Envelope {
  v: number;
  id: string;
  stream?: WireStreamParams;
}

interface Expected {
  server: string;
  attached: boolean;
  push(line: string): void;
  closed(): void;
  fail(code: number, message: string, kind: string | undefined): void;
}

interface Producer {
  credit: { items: number; bytes: number };
  wake: () => void;
  abort: AbortController;
}

function isRoom(target: RpcCaller | StreamingRoom): target is StreamingRoom {
  return typeof target === 'object' && target !== null && 'localParticipant' in target;
}

function protocolData(kind: unknown): string {
  return JSON.stringify({ typed_rpc: kind });
}

function withEnvelope(payload: string, envelope: Envelope): string {
  const body = payload.trim() === '' ? '{}' : payload.trim();
  const rest = body.slice(1).trimStart();
  return `{"$typed_rpc":${JSON.stringify(envelope)}${rest.startsWith('}') ? '' : ','}${body.slice(1)}`;
}

function readEnvelope(payload: string): Envelope | undefined {
  if (!payload.includes('"$typed_rpc"')) return undefined;
  try {
    const value = JSON.parse(payload) as { $typed_rpc?: Envelope };
    const envelope = value.$typed_rpc;
    return typeof envelope === 'object' && envelope !== null && typeof envelope.id === 'string' ? envelope : undefined;
  } catch {
    return undefined;
  }
}

/** The room's share of the typed_rpc wire, one per room whichever module made it. */
class TypedRpcHub {
  readonly expected = new Map<string, Expected>();
  readonly producers = new Map<string, Producer>();
  readonly calls = new Map<string, AbortController>();

  constructor(readonly room: StreamingRoom) {
    room.registerTextStreamHandler(STREAM_TOPIC, (reader, from) => void this.items(reader, from.identity));
    room.registerTextStreamHandler(CONTROL_TOPIC, (reader, from) => this.control(reader, from.identity));
    const events = room as unknown as { on?: (event: string, listener: (p: { identity?: unknown }) => void) => unknown };
    events.on?.('participantDisconnected', (p) => {
      if (typeof p?.identity === 'string') this.left(p.identity);
    });
  }

  private async items(reader: TypedRpcTextReader, from: string): Promise<void> {
    const id = reader.info.attributes?.['typed_rpc.id'] ?? '';
    const expected = this.expected.get(id);
    if (expected === undefined || expected.server !== from || expected.attached) {
      await reader.readAll().catch(() => undefined);
      return;
    }
    expected.attached = true;
    let partial = '';
    try {
      for await (const chunk of reader) {
        partial += chunk;
        let at: number;
        while ((at = partial.indexOf('\n')) >= 0) {
          const line = partial.slice(0, at);
          partial = partial.slice(at + 1);
          if (line !== '') expected.push(line);
        }
      }
      if (partial.trim() !== '') expected.push(partial);
      expected.closed();
    } catch (error) {
      expected.fail(APPLICATION_ERROR, `the stream's records could not be received: ${String(error)}`, undefined);
    }
  }

  private control(reader: TypedRpcTextReader, from: string): void {
    const attributes = reader.info.attributes ?? {};
    void reader.readAll().catch(() => undefined);
    const id = attributes['typed_rpc.id'];
    if (id === undefined) return;
    const key = `${from}\u0000${id}`;
    const producer = this.producers.get(key);
    if (attributes['typed_rpc.op'] === 'cancel') {
      producer?.abort.abort('cancel');
      this.calls.get(key)?.abort('cancel');
    } else if (attributes['typed_rpc.op'] === 'credit' && producer !== undefined) {
      const items = Number(attributes['typed_rpc.items']);
      const bytes = Number(attributes['typed_rpc.bytes']);
      if (Number.isFinite(items) && Number.isFinite(bytes)) {
        producer.credit.items = Math.max(producer.credit.items, items);
        producer.credit.bytes = Math.max(producer.credit.bytes, bytes);
        producer.wake();
      }
    }
  }

  private left(identity: string): void {
    const prefix = `${identity}\u0000`;
    for (const [key, producer] of this.producers) if (key.startsWith(prefix)) producer.abort.abort('left');
    for (const [key, call] of this.calls) if (key.startsWith(prefix)) call.abort('left');
    for (const expected of this.expected.values()) {
      if (expected.server === identity) {
        expected.fail(1503, `${identity} left the room before the stream ended`, undefined);
      }
    }
  }

  sendControl(server: string, id: string, attributes: Record<string, string>): void {
    void this.room.localParticipant
      .sendText('', {
        topic: CONTROL_TOPIC,
        destinationIdentities: [server],
        attributes: { 'typed_rpc.v': String(WIRE_VERSION), 'typed_rpc.id': id, ...attributes },
      })
      .catch(() => undefined);
  }
}

function hubOf(room: StreamingRoom): TypedRpcHub {
  const holder = room as unknown as Record<symbol, TypedRpcHub | undefined>;
  let hub = holder[HUB_KEY];
  if (hub === undefined) {
    hub = new TypedRpcHub(room);
    holder[HUB_KEY] = hub;
  }
  return hub;
}

/**
 * The items of one streaming call, in order. Iterate it with `for await`; leaving the loop
 * early (or `cancel()`) cancels the call at the server. After the last item the loop ends
 * for a successful end, or throws an `RpcCallError` (the typed error in `appError`, a
 * timeout, lost data, the server leaving); `end` says which.
 */
export class CallStream<T, E = never> implements AsyncIterable<T> {
  /** How the stream ended; undefined while it is open. */
  end: StreamEnd | undefined;
  private lines: string[] = [];
  private head = 0;
  private terminal: RpcCallError<E> | undefined;
  private closed = false;
  private waiter: (() => void) | undefined;
  private received = 0;
  private consumed = { items: 0, bytes: 0 };
  private credited = { items: 0, bytes: 0 };
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  private isOpen = false;

  /** @internal */
  constructor(
    private readonly hub: TypedRpcHub,
    /** The call's id (the envelope's). */
    readonly id: string,
    /** Who produces the stream. */
    readonly server: string,
    private readonly method: string,
    private readonly params: WireStreamParams,
    private readonly typed: boolean,
  ) {
    hub.expected.set(id, {
      server,
      attached: false,
      push: (line) => {
        this.lines.push(line);
        if (this.lines.length - this.head > params.window_items + 64) {
          this.fail(APPLICATION_ERROR, 'the server sent more records than the credit window allows', 'credit_exceeded', 'broken', true);
        }
        this.touch();
        this.wake();
      },
      closed: () => {
        this.closed = true;
        this.wake();
      },
      fail: (code, message, kind) => this.fail(code, message, kind, 'broken', true),
    });
  }

  /** @internal The server accepted the call: its timers start. */
  opened(): void {
    this.isOpen = true;
    this.touch();
    if (this.params.deadline_ms !== null) {
      this.deadlineTimer = setTimeout(
        () => this.fail(1502, `the deadline of ${this.method} passed`, 'deadline', 'timed_out', true),
        this.params.deadline_ms,
      );
    }
  }

  /** @internal The call was refused: nothing runs at the server. */
  refused(): void {
    this.hub.expected.delete(this.id);
  }

  /** Items received so far. */
  get count(): number {
    return this.received;
  }

  /** Ends the stream here and cancels it at the server. */
  cancel(): void {
    if (this.end === undefined) {
      this.finish('cancelled', true);
      this.wake();
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => this.next(),
      return: async () => {
        this.cancel();
        return { done: true, value: undefined };
      },
    };
  }

  /** The next item, or `done` once the stream has ended successfully. */
  async next(): Promise<IteratorResult<T>> {
    for (;;) {
      if (this.terminal !== undefined) {
        const error = this.terminal;
        this.terminal = undefined;
        throw error;
      }
      if (this.end !== undefined) return { done: true, value: undefined };
      if (this.head < this.lines.length) {
        const line = this.lines[this.head++];
        if (this.head > 1024 && this.head * 2 > this.lines.length) {
          this.lines = this.lines.slice(this.head);
          this.head = 0;
        }
        const item = this.record(line);
        if (item !== undefined) return item;
        continue;
      }
      if (this.closed) {
        this.fail(APPLICATION_ERROR, `the stream of ${this.method} ended without its end record after ${this.received} items`, 'data_loss', 'data_loss', false);
        continue;
      }
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  /** An item to return, or undefined after a heartbeat or an end. */
  private record(line: string): IteratorResult<T> | undefined {
    let record: { n?: unknown; i?: unknown; hb?: unknown; end?: unknown; count?: unknown; error?: unknown };
    try {
      record = JSON.parse(line) as typeof record;
    } catch {
      this.fail(APPLICATION_ERROR, `a record of ${this.method} is not JSON`, 'protocol', 'broken', true);
      return undefined;
    }
    if (typeof record.n === 'number') {
      if (record.n !== this.received) {
        this.fail(APPLICATION_ERROR, `item ${record.n} of ${this.method} arrived where item ${this.received} was due`, 'data_loss', 'data_loss', true);
        return undefined;
      }
      this.received += 1;
      this.consumed.items += 1;
      this.consumed.bytes += encoder.encode(line).length + 1;
      const halfItems = Math.max(1, Math.floor(this.params.window_items / 2));
      const halfBytes = Math.max(1, Math.floor(this.params.window_bytes / 2));
      if (this.consumed.items >= this.credited.items + halfItems || this.consumed.bytes >= this.credited.bytes + halfBytes) {
        this.credited = { ...this.consumed };
        this.hub.sendControl(this.server, this.id, {
          'typed_rpc.op': 'credit',
          'typed_rpc.items': String(this.consumed.items),
          'typed_rpc.bytes': String(this.consumed.bytes),
        });
      }
      return { done: false, value: record.i as T };
    }
    if (record.hb !== undefined) return undefined;
    const count = typeof record.count === 'number' ? record.count : -1;
    if (typeof record.end === 'string' && count !== this.received) {
      this.fail(APPLICATION_ERROR, `the server sent ${count} items of ${this.method} and ${this.received} arrived`, 'data_loss', 'data_loss', false);
    } else if (record.end === 'ok') {
      this.finish('completed', false);
    } else if (record.end === 'error') {
      this.finish('failed', false);
      this.terminal = toCallError<E>(this.method, record.error, this.typed);
    } else if (record.end === 'cancelled') {
      this.fail(APPLICATION_ERROR, `the server cancelled the stream of ${this.method}`, 'cancelled', 'cancelled', false);
    } else {
      this.fail(APPLICATION_ERROR, `a record of ${this.method} is of no known kind`, 'protocol', 'broken', true);
    }
    return undefined;
  }

  private touch(): void {
    if (!this.isOpen || this.end !== undefined) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(
      () => this.fail(1502, `no record of ${this.method} from ${this.server} within the idle timeout (${this.params.idle_ms} ms)`, 'stream_idle', 'timed_out', true),
      this.params.idle_ms,
    );
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }

  private fail(code: number, message: string, kind: string | undefined, end: StreamEnd, cancelServer: boolean): void {
    if (this.end !== undefined) return;
    this.finish(end, cancelServer);
    this.terminal = new RpcCallError<E>(this.method, code, message, kind === undefined ? undefined : protocolData(kind), undefined);
    this.wake();
  }

  private finish(end: StreamEnd, cancelServer: boolean): void {
    if (this.end !== undefined) return;
    this.end = end;
    clearTimeout(this.idleTimer);
    clearTimeout(this.deadlineTimer);
    this.lines = [];
    this.head = 0;
    this.hub.expected.delete(this.id);
    if (cancelServer) this.hub.sendControl(this.server, this.id, { 'typed_rpc.op': 'cancel' });
  }
}

function streamParams(options: StreamOptions): WireStreamParams {
  const clamp = (value: number | undefined, fallback: number, min: number, max: number) =>
    Math.min(max, Math.max(min, Math.floor(value ?? fallback)));
  return {
    idle_ms: clamp(options.idleTimeoutMs, 30000, 50, 3600000),
    deadline_ms: options.deadlineMs === undefined ? null : Math.max(0, Math.floor(options.deadlineMs)),
    window_items: clamp(options.windowItems, 64, 1, 65536),
    window_bytes: clamp(options.windowBytes, 262144, 1024, 256 * 1024 * 1024),
  };
}

async function openStream<T, E>(
  target: RpcCaller | StreamingRoom,
  destinationIdentity: string,
  method: string,
  payload: string,
  options: StreamOptions,
  typed: boolean,
): Promise<CallStream<T, E>> {
  if (!isRoom(target)) {
    throw new RpcCallError<E>(method, APPLICATION_ERROR, `${method} streams: make the client with the Room, not room.localParticipant`, undefined, undefined);
  }
  const hub = hubOf(target);
  const params = streamParams(options);
  const stream = new CallStream<T, E>(hub, crypto.randomUUID(), destinationIdentity, method, params, typed);
  let reply: string;
  try {
    reply = await callMethod<E>(
      target.localParticipant,
      destinationIdentity,
      method,
      withEnvelope(payload, { v: WIRE_VERSION, id: stream.id, stream: params }),
      options,
      typed,
    );
  } catch (error) {
    stream.refused();
    throw error;
  }
  const accepted = (() => {
    try {
      const value = JSON.parse(reply) as { $typed_rpc?: { id?: unknown; accepted?: unknown } };
      return value.$typed_rpc?.accepted === true && value.$typed_rpc.id === stream.id;
    } catch {
      return false;
    }
  })();
  if (!accepted) {
    stream.refused();
    throw new RpcCallError<E>(method, 1404, `${destinationIdentity} answered ${method} with a plain result, not a stream`, protocolData('not_streaming'), undefined);
  }
  stream.opened();
  if (options.signal !== undefined) {
    if (options.signal.aborted) stream.cancel();
    else options.signal.addEventListener('abort', () => stream.cancel(), { once: true });
  }
  return stream;
}

async function callCancellable<E>(
  target: RpcCaller | StreamingRoom,
  destinationIdentity: string,
  method: string,
  payload: string,
  options: CancellableCallOptions,
  typed: boolean,
): Promise<string> {
  if (!isRoom(target)) return callMethod<E>(target, destinationIdentity, method, payload, options, typed);
  const hub = hubOf(target);
  const id = crypto.randomUUID();
  const call = callMethod<E>(target.localParticipant, destinationIdentity, method, withEnvelope(payload, { v: WIRE_VERSION, id }), options, typed);
  const signal = options.signal;
  if (signal === undefined) return call;
  return new Promise<string>((resolve, reject) => {
    const onAbort = () => {
      hub.sendControl(destinationIdentity, id, { 'typed_rpc.op': 'cancel' });
      reject(new RpcCallError<E>(method, APPLICATION_ERROR, `${method} was cancelled by its caller`, protocolData('cancelled'), undefined));
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    call.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Runs a cancellable handler with its signal; a result after a cancel is not sent. */
async function serveCancellable(
  room: StreamingRoom,
  method: string,
  data: RpcInvocation,
  run: (invocation: CancellableInvocation) => Promise<string>,
): Promise<string> {
  const hub = hubOf(room);
  const key = `${data.callerIdentity}\u0000${readEnvelope(data.payload)?.id ?? data.requestId}`;
  const abort = new AbortController();
  hub.calls.set(key, abort);
  try {
    const result = await run({ ...data, signal: abort.signal });
    if (abort.signal.aborted) {
      throw new RpcError(APPLICATION_ERROR, `${method} was cancelled by its caller; its result was discarded`, protocolData('cancelled'));
    }
    return result;
  } finally {
    if (hub.calls.get(key) === abort) hub.calls.delete(key);
  }
}

/** Accepts a streaming call and sends the handler's items under the caller's credit. */
async function serveStream<T>(
  room: StreamingRoom,
  method: string,
  data: RpcInvocation,
  open: (invocation: CancellableInvocation) => AsyncIterable<T> | Promise<AsyncIterable<T>>,
): Promise<string> {
  const envelope = readEnvelope(data.payload);
  if (envelope?.stream === undefined) {
    throw new RpcError(1404, `${method} is a streaming method: call it with a typed_rpc client`, protocolData({ v: WIRE_VERSION, kind: 'stream_required', method }));
  }
  if (envelope.v !== WIRE_VERSION) {
    throw new RpcError(1404, `typed_rpc wire version ${envelope.v} is not supported`, protocolData({ v: WIRE_VERSION, kind: 'version', method }));
  }
  const hub = hubOf(room);
  const key = `${data.callerIdentity}\u0000${envelope.id}`;
  if (hub.producers.has(key)) {
    throw new RpcError(APPLICATION_ERROR, 'Application error in method handler', `a typed_rpc stream with id "${envelope.id}" is already open`);
  }
  const producer: Producer = { credit: { items: 0, bytes: 0 }, wake: () => undefined, abort: new AbortController() };
  hub.producers.set(key, producer);
  let items: AsyncIterable<T>;
  try {
    items = await open({ ...data, signal: producer.abort.signal });
  } catch (error) {
    hub.producers.delete(key);
    throw error;
  }
  const p = envelope.stream;
  const params = streamParams({ idleTimeoutMs: p.idle_ms, deadlineMs: p.deadline_ms ?? undefined, windowItems: p.window_items, windowBytes: p.window_bytes });
  void pump(hub, key, data.callerIdentity, envelope.id, method, params, items, producer);
  return JSON.stringify({ $typed_rpc: { v: WIRE_VERSION, id: envelope.id, accepted: true } });
}

function errorRecord(error: unknown): { code: number; message: string; data?: string } {
  if (error instanceof ApplicationError) {
    return { code: error.code, message: error.message, data: JSON.stringify(error.value) };
  }
  if (error instanceof RpcError) {
    return { code: error.code, message: error.message, data: error.data };
  }
  return { code: APPLICATION_ERROR, message: 'Application error in method handler', data: String(error) };
}

async function pump<T>(
  hub: TypedRpcHub,
  key: string,
  caller: string,
  id: string,
  method: string,
  params: WireStreamParams,
  items: AsyncIterable<T>,
  producer: Producer,
): Promise<void> {
  const signal = producer.abort.signal;
  const aborted = new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  let writer: { write(text: string): Promise<void>; close(): Promise<void> };
  try {
    writer = await hub.room.localParticipant.streamText({
      topic: STREAM_TOPIC,
      destinationIdentities: [caller],
      attributes: { 'typed_rpc.v': String(WIRE_VERSION), 'typed_rpc.id': id, 'typed_rpc.method': method },
    });
  } catch {
    producer.abort.abort('left');
    hub.producers.delete(key);
    return;
  }
  let writing: Promise<void> = Promise.resolve();
  let lastWrite = Date.now();
  const write = (text: string): Promise<void> => {
    lastWrite = Date.now();
    writing = writing.then(() => writer.write(text));
    return writing;
  };
  let sent = 0;
  let sentBytes = 0;
  let blockedSince: number | undefined;
  const windowOpen = () =>
    sent < producer.credit.items + params.window_items &&
    (sentBytes < producer.credit.bytes + params.window_bytes || sent === producer.credit.items);
  const heartbeat = setInterval(() => {
    if (blockedSince !== undefined && Date.now() - blockedSince >= params.idle_ms) producer.abort.abort('stalled');
    else if (Date.now() - lastWrite >= params.idle_ms / 3) void write(`{"hb":${sent}}\n`).catch(() => undefined);
  }, Math.max(10, Math.floor(params.idle_ms / 3)));
  const deadline = params.deadline_ms === null ? undefined : setTimeout(() => producer.abort.abort('deadline'), params.deadline_ms);
  const iterator = items[Symbol.asyncIterator]();
  let end: object | undefined;
  try {
    for (;;) {
      while (!windowOpen() && !signal.aborted) {
        blockedSince ??= Date.now();
        await Promise.race([new Promise<void>((resolve) => (producer.wake = resolve)), aborted]);
      }
      blockedSince = undefined;
      if (signal.aborted) break;
      const next = await Promise.race([iterator.next(), aborted.then(() => undefined)]);
      if (next === undefined) break;
      if (next.done === true) {
        end = { end: 'ok', count: sent };
        break;
      }
      const line = `{"n":${sent},"i":${JSON.stringify(next.value) ?? 'null'}}\n`;
      sent += 1;
      sentBytes += encoder.encode(line).length;
      await write(line);
    }
  } catch (error) {
    end = { end: 'error', count: sent, error: errorRecord(error) };
  }
  clearInterval(heartbeat);
  clearTimeout(deadline);
  if (end === undefined) {
    const reason: unknown = signal.reason;
    if (reason === 'cancel') end = { end: 'cancelled', count: sent };
    else if (reason === 'deadline') end = { end: 'error', count: sent, error: { code: 1502, message: 'the stream\'s deadline passed', data: protocolData('deadline') } };
    else if (reason === 'stalled') end = { end: 'error', count: sent, error: { code: APPLICATION_ERROR, message: 'the caller granted no credit for longer than the idle timeout', data: protocolData('consumer_stalled') } };
  }
  void Promise.resolve(iterator.return?.()).catch(() => undefined);
  try {
    if (end !== undefined) await write(`${JSON.stringify(end)}\n`);
    await writing;
    await writer.close();
  } catch {
    // The caller is gone: nobody to tell.
  }
  hub.producers.delete(key);
}
