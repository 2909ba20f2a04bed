"""A LiveKit Python SDK participant driven by a Rust test, one JSON command per stdin line.

Each command gets one answer line on stdout, prefixed with `@@ ` so that nothing the SDK
logs can be mistaken for it. The typed calls and handlers use the module this project
generates from the Rust `Robot` trait (`tests/contract/robot_rpc.py`), which must be on
PYTHONPATH.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import resource
import sys
import time
from typing import Any, AsyncIterator, Callable, Optional

from livekit import api, rtc
from pydantic import ValidationError

import robot_rpc

# The generated module must not pull in livekit-agents (heavy, and not every participant
# is an agent) until function_tools() is called.
AGENTS_LOADED_AT_IMPORT = "livekit.agents" in sys.modules

from robot_rpc import (  # noqa: E402
    ApplicationError,
    ArmErrorNoSuchJoint,
    ArmErrorNoSuchJointFields,
    ArmErrorOutOfReach,
    ArmErrorOutOfReachFields,
    CancellableInvocation,
    JointState,
    Pose,
    Robot,
    RpcCallError,
    StreamOptions,
)


class Arm:
    """The Python side of `Robot`, as the Rust example's `Arm` behaves."""

    def __init__(self) -> None:
        # Why streams and cancellable calls stopped early, as the handlers saw it.
        self.stops: list[str] = []

    async def move_arm(self, *, joint: int, angle: float, invocation: rtc.RpcInvocationData) -> Pose:
        if angle > 90.0:
            raise ApplicationError(
                ArmErrorOutOfReach(OutOfReach=ArmErrorOutOfReachFields(joint=joint, max_angle=90.0)),
                code=4001,
            )
        return Pose(joint=joint, angle=angle)

    async def snapshot(self, *, size: int, invocation: rtc.RpcInvocationData) -> list[int]:
        return [(i * 7) % 251 for i in range(size)]

    async def whoami(self, *, invocation: rtc.RpcInvocationData) -> str:
        return f"python sees {invocation.caller_identity}"

    async def calibrate(self, *, millis: int, invocation: CancellableInvocation) -> None:
        try:
            await asyncio.wait_for(invocation.cancelled.wait(), millis / 1000)
            self.stops.append(f"calibrate:{invocation.reason}")
        except asyncio.TimeoutError:
            pass

    def watch_joint(
        self, *, joint: int, every_ms: int, count: int, invocation: CancellableInvocation
    ) -> AsyncIterator[JointState]:
        # Checked here, so a bad joint refuses the call; the generator streams.
        if joint > 5:
            raise ApplicationError(ArmErrorNoSuchJoint(NoSuchJoint=ArmErrorNoSuchJointFields(joint=joint)), code=4004)
        return self.readings(joint, every_ms, count, invocation)

    async def readings(
        self, joint: int, every_ms: int, count: int, invocation: CancellableInvocation
    ) -> AsyncIterator[JointState]:
        try:
            for seq in range(count):
                if seq > 0:
                    await asyncio.sleep(every_ms / 1000)
                yield JointState(joint=joint, angle=40.0 + (seq % 10) * 0.5, seq=seq)
        finally:
            if invocation.cancelled.is_set():
                self.stops.append(f"watch:{invocation.reason}")


def error_answer(error: Exception) -> dict[str, Any]:
    if isinstance(error, RpcCallError):
        app = error.app_error
        return {
            "ok": False,
            "code": error.code,
            "message": error.message,
            "data": error.data,
            "app_error": app.model_dump(mode="json") if app is not None else None,
            "app_error_type": type(app).__name__ if app is not None else None,
        }
    if isinstance(error, rtc.RpcError):
        return {"ok": False, "code": error.code, "message": error.message, "data": error.data}
    if isinstance(error, ValidationError):
        return {"ok": False, "validation": str(error)}
    return {"ok": False, "exception": f"{type(error).__name__}: {error}"}


class Peer:
    def __init__(self) -> None:
        self.room = rtc.Room()
        self.arm = Arm()
        self.stop_serving: Optional[Callable[[], None]] = None

    def token(self, identity: str, room: str) -> str:
        return (
            api.AccessToken(os.environ["LIVEKIT_API_KEY"], os.environ["LIVEKIT_API_SECRET"])
            .with_identity(identity)
            .with_grants(api.VideoGrants(room_join=True, room=room, can_update_own_metadata=True))
            .to_jwt()
        )

    async def wait_for(self, identity: str, timeout: float) -> None:
        # The server describes participants without tracks up to 3 s late; until then the
        # SDK does not know the peer's client protocol and would refuse RPC v2 payloads.
        deadline = time.monotonic() + timeout
        while identity not in self.room.remote_participants:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{identity} did not join within {timeout} s")
            await asyncio.sleep(0.05)

    async def typed_call(self, dest: str, method: str, args: dict[str, Any]) -> Any:
        robot = Robot.client(self.room.local_participant, dest, response_timeout=30)
        if method == "move_arm":
            return (await robot.move_arm(joint=args["joint"], angle=args["angle"])).model_dump(mode="json")
        if method == "snapshot":
            data = await robot.snapshot(size=args["size"])
            ok = all(b == (i * 7) % 251 for i, b in enumerate(data))
            return {"len": len(data), "pattern_ok": ok}
        if method == "whoami":
            return await robot.whoami()
        if method == "calibrate":
            return await robot.calibrate(millis=args["millis"])
        raise ValueError(f"no typed method {method}")

    async def watch(self, cmd: dict[str, Any]) -> Any:
        robot = Robot.client(self.room, cmd["dest"], response_timeout=30)
        stream = await robot.watch_joint(
            joint=cmd["joint"], every_ms=cmd["every_ms"], count=cmd["count"], stream_options=StreamOptions(window_items=8)
        )
        seqs: list[int] = []
        async with stream:
            async for reading in stream:
                seqs.append(reading.seq)
                if "take" in cmd and len(seqs) >= cmd["take"]:
                    break
        return {"seqs": seqs, "end": stream.end}

    async def bench(self, dest: str, calls: int, echo_bytes: int, rounds: int) -> dict[str, Any]:
        lp = self.room.local_participant
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            await lp.perform_rpc(destination_identity=dest, method="bench.echo", payload="ping")
            times.append(time.perf_counter() - start)
        times.sort()
        # Letters in a pattern (DEFLATE shrinks them to almost nothing) and base64 of random
        # bytes (a quarter at most).
        letters = "".join(chr(ord("a") + (i * 7) % 26) for i in range(echo_bytes))
        b64 = base64.b64encode(os.urandom(echo_bytes * 3 // 4)).decode()
        medians = []
        for payload in (letters, b64):
            echoes = []
            for _ in range(rounds):
                start = time.perf_counter()
                reply = await lp.perform_rpc(
                    destination_identity=dest, method="bench.echo", payload=payload, response_timeout=60
                )
                echoes.append(time.perf_counter() - start)
                if reply != payload:
                    raise ValueError("the echo came back different")
            echoes.sort()
            medians.append(echoes[len(echoes) // 2])
        return {
            "p50_ms": times[len(times) // 2] * 1000,
            "p99_ms": times[min(len(times) - 1, len(times) * 99 // 100)] * 1000,
            "echo_s": medians[0],
            "echo_b64_s": medians[1],
        }

    async def agent_tools(self, dest: str) -> dict[str, Any]:
        """The generated livekit-agents tools, called the way the agents framework calls a
        tool the LLM chose: its JSON arguments through `prepare_function_arguments`."""
        from livekit.agents import ToolError
        from livekit.agents.llm.tool_context import is_raw_function_tool
        from livekit.agents.llm.utils import prepare_function_arguments

        tools = {t.info.name: t for t in Robot.function_tools(self.room.local_participant, dest)}

        async def invoke(name: str, arguments: str) -> Any:
            tool = tools[name]
            args, kwargs = prepare_function_arguments(fnc=tool, json_arguments=arguments)
            try:
                return {"ok": await tool(*args, **kwargs)}
            except ToolError as error:
                return {"tool_error": error.message}

        return {
            "loaded_at_import": AGENTS_LOADED_AT_IMPORT,
            "raw": all(is_raw_function_tool(t) for t in tools.values()),
            "schemas": {name: t.info.raw_schema for name, t in tools.items()},
            "move_arm": await invoke("robot_move_arm", '{"joint": 2, "angle": 41.5}'),
            "refused": await invoke("robot_move_arm", '{"joint": 3, "angle": 120}'),
            "whoami": await invoke("robot_whoami", "{}"),
        }

    async def run(self, cmd: dict[str, Any]) -> Any:
        op = cmd["cmd"]
        if op == "join":
            token = self.token(cmd["identity"], cmd["room"])
            await self.room.connect(cmd["url"], token)
            return self.room.local_participant.identity
        if op == "serve":
            self.stop_serving = Robot.serve(self.room, self.arm)
            return None
        if op == "serve_echo":
            async def echo(data: rtc.RpcInvocationData) -> str:
                return data.payload

            self.room.local_participant.register_rpc_method("bench.echo", echo)
            return None
        if op == "unserve":
            if self.stop_serving is not None:
                self.stop_serving()
            return None
        if op == "wait_for":
            await self.wait_for(cmd["identity"], cmd.get("timeout", 15))
            return None
        if op == "call":
            return await self.typed_call(cmd["dest"], cmd["method"], cmd.get("args", {}))
        if op == "raw":
            return await self.room.local_participant.perform_rpc(
                destination_identity=cmd["dest"],
                method=cmd["method"],
                payload=cmd["payload"],
                response_timeout=cmd.get("timeout", 15),
            )
        if op == "bench":
            return await self.bench(cmd["dest"], cmd["calls"], cmd["echo_bytes"], cmd.get("echo_rounds", 1))
        if op == "peak_rss_kib":
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if op == "watch":
            return await self.watch(cmd)
        if op == "calibrate_cancel":
            robot = Robot.client(self.room, cmd["dest"])
            started = time.monotonic()
            try:
                await asyncio.wait_for(robot.calibrate(millis=cmd["millis"]), cmd["after_ms"] / 1000)
                return {"cancelled": False}
            except asyncio.TimeoutError:
                return {"cancelled": True, "ms": int((time.monotonic() - started) * 1000)}
        if op == "stops":
            return self.arm.stops
        if op == "agent_tools":
            return await self.agent_tools(cmd["dest"])
        if op == "leave":
            await self.room.disconnect()
            return None
        raise ValueError(f"unknown command {op}")


async def main() -> None:
    peer = Peer()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            break
        cmd = json.loads(line)
        try:
            answer = {"ok": True, "value": await peer.run(cmd)}
        except Exception as error:  # every failure is an answer the test reads
            answer = error_answer(error)
        sys.stdout.write("@@ " + json.dumps(answer) + "\n")
        sys.stdout.flush()
        if cmd["cmd"] == "leave":
            break


if __name__ == "__main__":
    asyncio.run(main())
