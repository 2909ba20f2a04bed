

# --- typed_rpc v1: streaming results and cancellation (see livekit_typed_rpc::streaming)

_WIRE_VERSION: Final = 1
_STREAM_TOPIC: Final = "typed_rpc.stream"
_CONTROL_TOPIC: Final = "typed_rpc.ctl"
_HUB_ATTRIBUTE: Final = "_livekit_typed_rpc_hub_v1"


def _clamp(value: float, low: int, high: int) -> int:
    return max(low, min(high, int(value)))


class StreamOptions(BaseModel):
    """How a caller wants a stream run (the Rust side's `StreamConfig`)."""

    model_config = ConfigDict(frozen=True)

    idle_timeout: float = 30.0
    """Fail after this many seconds without a record; the server sends heartbeats."""
    deadline: Optional[float] = None
    """End the stream this many seconds after it opened."""
    window_items: int = 64
    """Items the server may send ahead of what was consumed."""
    window_bytes: int = 262144
    """Item bytes the server may send ahead."""

    def _wire(self) -> dict[str, Any]:
        return {
            "idle_ms": _clamp(self.idle_timeout * 1000, 50, 3_600_000),
            "deadline_ms": None if self.deadline is None else max(0, int(self.deadline * 1000)),
            "window_items": _clamp(self.window_items, 1, 65536),
            "window_bytes": _clamp(self.window_bytes, 1024, 256 * 1024 * 1024),
        }


class CancellableInvocation:
    """What a streaming or cancellable handler gets: the call, and `cancelled`, an event set
    when nobody waits for the result any more (cancelled, caller left, deadline)."""

    def __init__(self, data: rtc.RpcInvocationData) -> None:
        self.data = data
        self.request_id = data.request_id
        self.caller_identity = data.caller_identity
        self.payload = data.payload
        self.response_timeout = data.response_timeout
        self.cancelled = asyncio.Event()
        self.reason: Optional[str] = None

    def _cancel(self, reason: str) -> None:
        if not self.cancelled.is_set():
            self.reason = reason
            self.cancelled.set()


def _protocol_data(kind: Any) -> str:
    return json.dumps({"typed_rpc": kind})


def _with_envelope(payload: str, envelope: dict[str, Any]) -> str:
    body = payload.strip() or "{}"
    rest = body[1:]
    separator = "" if rest.lstrip().startswith("}") else ","
    return '{"$typed_rpc":' + json.dumps(envelope, separators=(",", ":")) + separator + rest


def _read_envelope(payload: str) -> Optional[dict[str, Any]]:
    if '"$typed_rpc"' not in payload:
        return None
    try:
        envelope = json.loads(payload).get("$typed_rpc")
    except (ValueError, AttributeError):
        return None
    return envelope if isinstance(envelope, dict) and isinstance(envelope.get("id"), str) else None


class _Expected:
    def __init__(self, server: str, window_items: int) -> None:
        self.server = server
        self.attached = False
        self.limit = window_items + 64
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def push(self, line: str) -> None:
        if self.events.qsize() >= self.limit:
            self.fail(APPLICATION_ERROR, "the server sent more records than the credit window allows", "credit_exceeded")
        else:
            self.events.put_nowait(("line", line))

    def fail(self, code: int, message: str, kind: Optional[str]) -> None:
        self.events.put_nowait(("failed", (code, message, kind)))


class _Producer:
    def __init__(self, invocation: CancellableInvocation) -> None:
        self.invocation = invocation
        self.items = 0
        self.bytes = 0
        self.wake = asyncio.Event()


class _Hub:
    """The room's share of the typed_rpc wire, one per room whichever module made it."""

    def __init__(self, room: rtc.Room) -> None:
        self.room = room
        self.expected: dict[str, _Expected] = {}
        self.producers: dict[tuple[str, str], _Producer] = {}
        self.calls: dict[tuple[str, str], CancellableInvocation] = {}
        self.tasks: set[asyncio.Future[Any]] = set()
        room.register_text_stream_handler(_STREAM_TOPIC, lambda reader, identity: self.spawn(self.items(reader, identity)))
        room.register_text_stream_handler(_CONTROL_TOPIC, lambda reader, identity: self.spawn(self.control(reader, identity)))
        room.on("participant_disconnected", lambda participant: self.left(participant.identity))

    def spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def items(self, reader: rtc.TextStreamReader, sender: str) -> None:
        stream_id = (reader.info.attributes or {}).get("typed_rpc.id", "")
        expected = self.expected.get(stream_id)
        if expected is None or expected.server != sender or expected.attached:
            await reader.read_all()
            return
        expected.attached = True
        partial = ""
        try:
            async for chunk in reader:
                partial += chunk
                *lines, partial = partial.split("\n")
                for line in lines:
                    if line:
                        expected.push(line)
            if partial.strip():
                expected.push(partial)
            expected.events.put_nowait(("closed", None))
        except Exception as error:  # the SDK's reader failing mid-stream
            expected.fail(APPLICATION_ERROR, f"the stream's records could not be received: {error}", None)

    async def control(self, reader: rtc.TextStreamReader, sender: str) -> None:
        attributes = dict(reader.info.attributes or {})
        await reader.read_all()
        call_id = attributes.get("typed_rpc.id")
        if call_id is None:
            return
        key = (sender, call_id)
        producer = self.producers.get(key)
        if attributes.get("typed_rpc.op") == "cancel":
            if producer is not None:
                producer.invocation._cancel("cancel")
            call = self.calls.get(key)
            if call is not None:
                call._cancel("cancel")
        elif attributes.get("typed_rpc.op") == "credit" and producer is not None:
            try:
                items = int(attributes["typed_rpc.items"])
                size = int(attributes["typed_rpc.bytes"])
            except (KeyError, ValueError):
                return
            producer.items = max(producer.items, items)
            producer.bytes = max(producer.bytes, size)
            producer.wake.set()

    def left(self, identity: str) -> None:
        for (caller, _), producer in list(self.producers.items()):
            if caller == identity:
                producer.invocation._cancel("left")
        for (caller, _), call in list(self.calls.items()):
            if caller == identity:
                call._cancel("left")
        for expected in self.expected.values():
            if expected.server == identity:
                expected.fail(1503, f"{identity} left the room before the stream ended", None)

    def send_control(self, server: str, call_id: str, attributes: dict[str, str]) -> None:
        self.spawn(_send_control(self.room.local_participant, server, call_id, attributes))


async def _send_control(
    participant: rtc.LocalParticipant, server: str, call_id: str, attributes: dict[str, str]
) -> None:
    try:
        await participant.send_text(
            "",
            topic=_CONTROL_TOPIC,
            destination_identities=[server],
            attributes={"typed_rpc.v": str(_WIRE_VERSION), "typed_rpc.id": call_id, **attributes},
        )
    except Exception:
        pass  # Gone: nobody to tell.


def _hub_of(room: rtc.Room) -> _Hub:
    hub = getattr(room, _HUB_ATTRIBUTE, None)
    if not isinstance(hub, _Hub):
        hub = _Hub(room)
        setattr(room, _HUB_ATTRIBUTE, hub)
    return hub


class CallStream(Generic[_T]):
    """The items of one streaming call, in order: iterate it with `async for`.

    After the last item the loop ends for a successful end, or raises an `RpcCallError`
    (the typed error in `app_error`, a timeout, lost data, the server leaving); `end` says
    which. Leave early with `await stream.aclose()` (or `async with`), which cancels the
    call at the server.
    """

    def __init__(
        self,
        hub: _Hub,
        method: str,
        server: str,
        params: dict[str, Any],
        item: TypeAdapter[_T],
        typed: Optional[TypeAdapter[Any]],
    ) -> None:
        self.id = str(uuid.uuid4())
        self.server = server
        self.end: Optional[str] = None
        """How it ended: completed, failed, cancelled, data_loss, timed_out or broken."""
        self.count = 0
        self._hub = hub
        self._method = method
        self._params = params
        self._item = item
        self._typed = typed
        self._expected = _Expected(server, params["window_items"])
        self._error: Optional[RpcCallError[Any]] = None
        self._consumed = (0, 0)
        self._credited = (0, 0)
        self._deadline: Optional[float] = None
        hub.expected[self.id] = self._expected

    def _opened(self) -> None:
        deadline_ms = self._params["deadline_ms"]
        if deadline_ms is not None:
            self._deadline = asyncio.get_running_loop().time() + deadline_ms / 1000

    def _refused(self) -> None:
        self._hub.expected.pop(self.id, None)

    def __aiter__(self) -> CallStream[_T]:
        return self

    async def __aenter__(self) -> CallStream[_T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Ends the stream here and cancels it at the server."""
        self._finish("cancelled", cancel_server=True)

    async def __anext__(self) -> _T:
        while True:
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            if self.end is not None:
                raise StopAsyncIteration
            timeout = self._params["idle_ms"] / 1000
            kind = "stream_idle"
            if self._deadline is not None:
                left = self._deadline - asyncio.get_running_loop().time()
                if left < timeout:
                    timeout, kind = max(0.0, left), "deadline"
            try:
                event, value = await asyncio.wait_for(self._expected.events.get(), timeout)
            except asyncio.TimeoutError:
                if kind == "deadline":
                    self._fail(1502, f"the deadline of {self._method} passed", kind, "timed_out", True)
                else:
                    self._fail(1502, f"no record of {self._method} from {self.server} within the idle timeout", kind, "timed_out", True)
                continue
            if event == "failed":
                code, message, protocol_kind = value
                self._fail(code, message, protocol_kind, "broken", True)
                continue
            if event == "closed":
                self._fail(APPLICATION_ERROR, f"the stream of {self._method} ended without its end record after {self.count} items", "data_loss", "data_loss", False)
                continue
            item = self._record(str(value))
            if item is not None:
                return item[0]

    def _record(self, line: str) -> Optional[tuple[_T]]:
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except ValueError:
            self._fail(APPLICATION_ERROR, f"a record of {self._method} is not valid", "protocol", "broken", True)
            return None
        n = record.get("n")
        if isinstance(n, int) and not isinstance(n, bool):
            if n != self.count:
                self._fail(APPLICATION_ERROR, f"item {n} of {self._method} arrived where item {self.count} was due", "data_loss", "data_loss", True)
                return None
            self.count += 1
            items, size = self._consumed[0] + 1, self._consumed[1] + len(line.encode()) + 1
            self._consumed = (items, size)
            half_items = max(1, self._params["window_items"] // 2)
            half_bytes = max(1, self._params["window_bytes"] // 2)
            if items >= self._credited[0] + half_items or size >= self._credited[1] + half_bytes:
                self._credited = self._consumed
                self._hub.send_control(
                    self.server,
                    self.id,
                    {"typed_rpc.op": "credit", "typed_rpc.items": str(items), "typed_rpc.bytes": str(size)},
                )
            try:
                return (self._item.validate_json(json.dumps(record.get("i")), strict=True),)
            except ValidationError as error:
                self._fail(APPLICATION_ERROR, f"item {n} of {self._method} is not what the contract says: {_why(error)}", None, "broken", True)
                return None
        if "hb" in record:
            return None
        end = record.get("end")
        if isinstance(end, str) and record.get("count") != self.count:
            self._fail(APPLICATION_ERROR, f"the server sent {record.get('count')} items of {self._method} and {self.count} arrived", "data_loss", "data_loss", False)
        elif end == "ok":
            self._finish("completed", cancel_server=False)
        elif end == "error":
            wire = record.get("error")
            wire = wire if isinstance(wire, dict) else {}
            ended = rtc.RpcError(
                int(wire.get("code", APPLICATION_ERROR)), str(wire.get("message", "")), wire.get("data")
            )
            self._finish("failed", cancel_server=False)
            self._error = _call_error(self._method, ended, self._typed)
        elif end == "cancelled":
            self._fail(APPLICATION_ERROR, f"the server cancelled the stream of {self._method}", "cancelled", "cancelled", False)
        else:
            self._fail(APPLICATION_ERROR, f"a record of {self._method} is of no known kind", "protocol", "broken", True)
        return None

    def _fail(self, code: int, message: str, kind: Optional[str], end: str, cancel_server: bool) -> None:
        if self.end is not None:
            return
        self._finish(end, cancel_server)
        data = None if kind is None else _protocol_data(kind)
        self._error = RpcCallError[Any](self._method, code, message, data, None)

    def _finish(self, end: str, cancel_server: bool) -> None:
        if self.end is not None:
            return
        self.end = end
        self._hub.expected.pop(self.id, None)
        if cancel_server:
            self._hub.send_control(self.server, self.id, {"typed_rpc.op": "cancel"})


async def _open_stream(
    target: Union[rtc.LocalParticipant, rtc.Room],
    destination_identity: str,
    method: str,
    payload: str,
    options: StreamOptions,
    response_timeout: Optional[float],
    item: TypeAdapter[_T],
    typed: Optional[TypeAdapter[Any]],
    item_typed: Optional[TypeAdapter[Any]],
) -> CallStream[_T]:
    if not isinstance(target, rtc.Room):
        raise RpcCallError[Any](
            method, APPLICATION_ERROR, f"{method} streams: make the client with the Room, not room.local_participant", None, None
        )
    params = options._wire()
    stream = CallStream(_hub_of(target), method, destination_identity, params, item, item_typed)
    body = _with_envelope(payload, {"v": _WIRE_VERSION, "id": stream.id, "stream": params})
    try:
        reply = await _call(target.local_participant, destination_identity, method, body, response_timeout, typed)
    except BaseException:
        stream._refused()
        raise
    try:
        accepted = json.loads(reply).get("$typed_rpc", {})
    except (ValueError, AttributeError):
        accepted = {}
    if not (isinstance(accepted, dict) and accepted.get("accepted") is True and accepted.get("id") == stream.id):
        stream._refused()
        raise RpcCallError[Any](
            method, 1404, f"{destination_identity} answered {method} with a plain result, not a stream", _protocol_data("not_streaming"), None
        )
    stream._opened()
    return stream


async def _call_cancellable(
    participant: rtc.LocalParticipant,
    destination_identity: str,
    method: str,
    payload: str,
    response_timeout: Optional[float],
    typed: Optional[TypeAdapter[_E]],
) -> str:
    """A call whose handler is cancelled when this coroutine is (a timeout, `task.cancel()`)."""
    call_id = str(uuid.uuid4())
    body = _with_envelope(payload, {"v": _WIRE_VERSION, "id": call_id})
    try:
        return await _call(participant, destination_identity, method, body, response_timeout, typed)
    except asyncio.CancelledError:
        await asyncio.shield(_send_control(participant, destination_identity, call_id, {"typed_rpc.op": "cancel"}))
        raise


async def _serve_cancellable(
    room: rtc.Room, data: rtc.RpcInvocationData, run: Callable[[CancellableInvocation], Awaitable[str]], method: str
) -> str:
    hub = _hub_of(room)
    envelope = _read_envelope(data.payload)
    key = (data.caller_identity, envelope["id"] if envelope is not None else data.request_id)
    invocation = CancellableInvocation(data)
    hub.calls[key] = invocation
    try:
        result = await run(invocation)
    finally:
        if hub.calls.get(key) is invocation:
            del hub.calls[key]
    if invocation.cancelled.is_set():
        raise rtc.RpcError(
            APPLICATION_ERROR, f"{method} was cancelled by its caller; its result was discarded", _protocol_data("cancelled")
        )
    return result


async def _serve_stream(
    room: rtc.Room,
    method: str,
    data: rtc.RpcInvocationData,
    item: TypeAdapter[_T],
    typed: Optional[TypeAdapter[Any]],
    open_items: Callable[[CancellableInvocation], AsyncIterator[_T]],
) -> str:
    envelope = _read_envelope(data.payload)
    if envelope is None or not isinstance(envelope.get("stream"), dict):
        raise rtc.RpcError(
            1404,
            f"{method} is a streaming method: call it with a typed_rpc client",
            _protocol_data({"v": _WIRE_VERSION, "kind": "stream_required", "method": method}),
        )
    if envelope.get("v") != _WIRE_VERSION:
        raise rtc.RpcError(
            1404,
            f"typed_rpc wire version {envelope.get('v')} is not supported",
            _protocol_data({"v": _WIRE_VERSION, "kind": "version", "method": method}),
        )
    hub = _hub_of(room)
    key = (data.caller_identity, str(envelope["id"]))
    if key in hub.producers:
        raise rtc.RpcError(APPLICATION_ERROR, "Application error in method handler", "a typed_rpc stream with this id is already open")
    invocation = CancellableInvocation(data)
    producer = _Producer(invocation)
    hub.producers[key] = producer
    try:
        items = open_items(invocation)
    except BaseException:
        del hub.producers[key]
        raise
    raw = envelope["stream"]
    params = StreamOptions(
        idle_timeout=float(raw.get("idle_ms", 30000)) / 1000,
        deadline=None if raw.get("deadline_ms") is None else float(raw["deadline_ms"]) / 1000,
        window_items=int(raw.get("window_items", 64)),
        window_bytes=int(raw.get("window_bytes", 262144)),
    )._wire()
    hub.spawn(_pump(hub, key, method, params, items, producer, item, typed))
    return json.dumps({"$typed_rpc": {"v": _WIRE_VERSION, "id": key[1], "accepted": True}})


def _error_record(error: BaseException, typed: Optional[TypeAdapter[Any]]) -> dict[str, Any]:
    if isinstance(error, ApplicationError):
        adapter: TypeAdapter[Any] = typed if typed is not None else TypeAdapter(Any)
        return {"code": error.code, "message": error.message, "data": adapter.dump_json(error.value, by_alias=True).decode()}
    if isinstance(error, rtc.RpcError):
        return {"code": error.code, "message": error.message, "data": error.data}
    return {"code": APPLICATION_ERROR, "message": "Application error in method handler", "data": str(error)}


async def _pump(
    hub: _Hub,
    key: tuple[str, str],
    method: str,
    params: dict[str, Any],
    items: AsyncIterator[_T],
    producer: _Producer,
    item: TypeAdapter[_T],
    typed: Optional[TypeAdapter[Any]],
) -> None:
    caller, call_id = key
    invocation = producer.invocation
    loop = asyncio.get_running_loop()
    idle = params["idle_ms"] / 1000
    deadline = None
    if params["deadline_ms"] is not None:
        deadline = loop.call_later(params["deadline_ms"] / 1000, invocation._cancel, "deadline")
    end: Optional[dict[str, Any]] = None
    writer: Optional[rtc.TextStreamWriter] = None
    sent = 0
    sent_bytes = 0
    cancelled = asyncio.ensure_future(invocation.cancelled.wait())
    try:
        writer = await hub.room.local_participant.stream_text(
            destination_identities=[caller],
            topic=_STREAM_TOPIC,
            attributes={"typed_rpc.v": str(_WIRE_VERSION), "typed_rpc.id": call_id, "typed_rpc.method": method},
        )
        last_write = loop.time()
        blocked_since: Optional[float] = None
        next_item: Optional[asyncio.Future[_T]] = None
        while not invocation.cancelled.is_set():
            window_open = sent < producer.items + params["window_items"] and (
                sent_bytes < producer.bytes + params["window_bytes"] or sent == producer.items
            )
            waiting: set[asyncio.Future[Any]] = {cancelled}
            if window_open:
                blocked_since = None
                if next_item is None:
                    next_item = asyncio.ensure_future(items.__anext__())
                waiting.add(next_item)
            else:
                if blocked_since is None:
                    blocked_since = loop.time()
                producer.wake.clear()
                waiting.add(asyncio.ensure_future(producer.wake.wait()))
            done, pending = await asyncio.wait(waiting, timeout=idle / 3, return_when=asyncio.FIRST_COMPLETED)
            for future in pending:
                if future is not cancelled and future is not next_item:
                    future.cancel()
            if next_item is not None and next_item in done:
                finished, next_item = next_item, None
                try:
                    value = finished.result()
                except StopAsyncIteration:
                    end = {"end": "ok", "count": sent}
                    break
                except Exception as error:
                    end = {"end": "error", "count": sent, "error": _error_record(error, typed)}
                    break
                line = '{"n":' + str(sent) + ',"i":' + item.dump_json(value, by_alias=True, exclude_unset=True).decode() + "}\n"
                sent += 1
                sent_bytes += len(line.encode())
                await writer.write(line)
                last_write = loop.time()
            elif not done:
                if blocked_since is not None and loop.time() - blocked_since >= idle:
                    invocation._cancel("stalled")
                elif loop.time() - last_write >= idle / 3:
                    await writer.write('{"hb":' + str(sent) + "}\n")
                    last_write = loop.time()
        if next_item is not None:
            next_item.cancel()
        if end is None:
            reason = invocation.reason
            if reason == "cancel":
                end = {"end": "cancelled", "count": sent}
            elif reason == "deadline":
                end = {"end": "error", "count": sent, "error": {"code": 1502, "message": "the stream's deadline passed", "data": _protocol_data("deadline")}}
            elif reason == "stalled":
                end = {"end": "error", "count": sent, "error": {"code": APPLICATION_ERROR, "message": "the caller granted no credit for longer than the idle timeout", "data": _protocol_data("consumer_stalled")}}
        if end is not None:
            await writer.write(json.dumps(end, separators=(",", ":")) + "\n")
    except Exception:
        pass  # The caller is gone, or the link: nobody to tell.
    finally:
        cancelled.cancel()
        if deadline is not None:
            deadline.cancel()
        closing = getattr(items, "aclose", None)
        if closing is not None:
            try:
                await closing()
            except Exception:
                pass
        if writer is not None:
            try:
                await writer.aclose()
            except Exception:
                pass
        hub.producers.pop(key, None)
