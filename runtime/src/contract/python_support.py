APPLICATION_ERROR: Final = 1500
"""LiveKit's APPLICATION_ERROR code, the default code of a typed error."""

_E = TypeVar("_E")
_T = TypeVar("_T")
_M = TypeVar("_M", bound=BaseModel)


def _is_reserved(code: int) -> bool:
    """Codes LiveKit reserves for its own errors (APPLICATION_ERROR excepted)."""
    return 1001 <= code <= 1999 and code != APPLICATION_ERROR


class RpcCallError(Exception, Generic[_E]):
    """A failed call.

    `app_error` is the method's typed error, decoded from `data`, when the handler
    returned one; otherwise the failure is LiveKit's (timeouts, unknown method, the
    destination leaving, ...) and `code` and `message` say which.
    """

    def __init__(
        self,
        method: str,
        code: int,
        message: str,
        data: Optional[str],
        app_error: Optional[_E],
    ) -> None:
        super().__init__(f"{method}: {message} (code {code})")
        self.method = method
        self.code = code
        self.message = message
        self.data = data
        self.app_error = app_error


class ApplicationError(Exception, Generic[_E]):
    """Raise it from a handler to answer with the method's typed error.

    A Rust caller gets `CallError::Application(value)`, a Python or TypeScript caller an
    `RpcCallError` whose `app_error` (`appError`) is `value`.
    """

    def __init__(
        self,
        value: _E,
        *,
        code: int = APPLICATION_ERROR,
        message: str = "Application error in method handler",
    ) -> None:
        super().__init__(message)
        self.value = value
        self.code = code
        self.message = message


def _why(error: ValidationError) -> str:
    """A ValidationError in one line, naming the parameter or field at fault."""
    parts = []
    for e in error.errors()[:3]:
        path = ".".join(str(p) for p in e["loc"])
        parts.append(f"`{path}`: {e['msg']}" if path else e["msg"])
    more = error.error_count() - len(parts)
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def _call_error(
    method: str, error: rtc.RpcError, typed: Optional[TypeAdapter[_E]]
) -> RpcCallError[_E]:
    app_error: Optional[_E] = None
    if typed is not None and error.data is not None and not _is_reserved(error.code):
        try:
            app_error = typed.validate_json(error.data, strict=True)
        except ValidationError:
            pass  # Not the typed error: a plain RPC error with text in `data`.
    return RpcCallError(method, error.code, error.message, error.data, app_error)


async def _call(
    participant: rtc.LocalParticipant,
    destination_identity: str,
    method: str,
    payload: str,
    response_timeout: Optional[float],
    typed: Optional[TypeAdapter[_E]],
) -> str:
    try:
        return await participant.perform_rpc(
            destination_identity=destination_identity,
            method=method,
            payload=payload,
            response_timeout=response_timeout,
        )
    except rtc.RpcError as error:
        raise _call_error(method, error, typed) from error


def _encode_args(model: type[BaseModel], values: dict[str, Any], optional: tuple[str, ...]) -> str:
    # An optional parameter left at None is left out, as a Rust caller leaves out `None`.
    present = {k: v for k, v in values.items() if not (v is None and k in optional)}
    return model.model_validate(present).model_dump_json(by_alias=True, exclude_unset=True)


def _decode_result(method: str, adapter: TypeAdapter[_T], payload: str) -> _T:
    try:
        return adapter.validate_json(payload, strict=True)
    except ValidationError as error:
        raise RpcCallError[Any](
            method,
            APPLICATION_ERROR,
            f"the response of {json.dumps(method)} is not what the contract says: {_why(error)}",
            None,
            None,
        ) from error


def _decode_unit(method: str, payload: str) -> None:
    text = payload.strip()
    if text not in ("", "null"):
        raise RpcCallError[Any](
            method,
            APPLICATION_ERROR,
            f"the response of {json.dumps(method)} should be empty, got {len(text)} characters",
            None,
            None,
        )


def _invalid_arguments(method: str, why: str) -> rtc.RpcError:
    return rtc.RpcError(
        APPLICATION_ERROR,
        "Application error in method handler",
        f"invalid arguments for {json.dumps(method)}: {why}",
    )


def _decode_args(method: str, model: type[_M], payload: str) -> _M:
    text = payload if payload.strip() else "{}"
    if not text.lstrip().startswith("{"):
        keys = ", ".join(json.dumps(f.alias or name) for name, f in model.model_fields.items())
        expected = f"a JSON object with keys {keys}" if keys else "an empty payload or {}"
        raise _invalid_arguments(method, f"expected {expected}, got {_shape(text)}")
    try:
        return model.model_validate_json(text, strict=True)
    except ValidationError as error:
        raise _invalid_arguments(method, _why(error)) from None


def _shape(text: str) -> str:
    try:
        value = json.loads(text)
    except ValueError:
        return "something that is not JSON"
    if isinstance(value, list):
        return f"a JSON array of {len(value)} items"
    return f"a JSON {type(value).__name__}"


def _encode_result(adapter: TypeAdapter[_T], value: _T) -> str:
    return adapter.dump_json(value, by_alias=True, exclude_unset=True).decode()


async def _answer(run: Callable[[], Awaitable[str]], typed: Optional[TypeAdapter[_E]]) -> str:
    """Runs a handler; a raised ApplicationError becomes the RpcError LiveKit sends."""
    try:
        return await run()
    except ApplicationError as error:
        adapter: TypeAdapter[Any] = typed if typed is not None else TypeAdapter(Any)
        data = adapter.dump_json(error.value, by_alias=True).decode()
        raise rtc.RpcError(error.code, error.message, data) from error


def _function_tools(
    participant: rtc.LocalParticipant,
    destination_identity: str,
    response_timeout: Optional[float],
    tools: list[dict[str, Any]],
) -> list[Any]:
    # Imported here, not at module load: the module serves participants without agents too.
    agents = importlib.import_module("livekit.agents")

    def tool(spec: dict[str, Any]) -> Any:
        method: str = spec["method"]
        raw: bool = spec["raw"]

        async def run(raw_arguments: dict[str, object]) -> str:
            payload = str(raw_arguments.get("payload", "")) if raw else json.dumps(raw_arguments)
            try:
                return await participant.perform_rpc(
                    destination_identity=destination_identity,
                    method=method,
                    payload=payload,
                    response_timeout=response_timeout,
                )
            except rtc.RpcError as error:
                detail = f": {error.data}" if error.data else ""
                raise agents.ToolError(f"{method} failed: {error.message}{detail}") from error

        schema = {k: spec[k] for k in ("name", "description", "parameters")}
        return agents.function_tool(run, raw_schema=schema)

    return [tool(spec) for spec in tools]
