"""How an agent uses a generated module, type-checked by `mypy --strict` (python_sdk.rs).

Every line ending in `# type: ignore[code]` must fail to type-check: `--strict` includes
`--warn-unused-ignores`, so such a line that type-checks is an error.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Callable

from livekit import rtc

from geo_rpc import Geo, GeoError, GeoErrorUnknown, Place
from robot_rpc import (
    ApplicationError,
    ArmError,
    ArmErrorOutOfReach,
    ArmErrorOutOfReachFields,
    CallStream,
    CancellableInvocation,
    JointState,
    Pose,
    Robot,
    RpcCallError,
    StreamOptions,
)


async def calls(room: rtc.Room) -> None:
    robot = Robot.client(room.local_participant, "robot-1", response_timeout=5.0)
    pose: Pose = await robot.move_arm(joint=2, angle=41.5)
    angle: float = pose.angle
    data: list[int] = await robot.snapshot(size=10)
    who: str = await robot.whoami()
    await robot.calibrate(millis=5)
    try:
        await robot.move_arm(joint=3, angle=120.0)
    except RpcCallError as error:
        code: int = error.code
        reason: ArmError | None = error.app_error
    place: Place = await Geo.client(room.local_participant, "geo").locate(city="London")
    population: int = place.population
    print(angle, data, who, code, reason, population)

    await robot.move_arm(joint="two", angle=1.0)  # type: ignore[arg-type]
    await robot.move_arm(2, 41.5)  # type: ignore[call-arg]
    await robot.move_arm(joint=2)  # type: ignore[call-arg]
    wrong: str = await robot.move_arm(joint=2, angle=1.0)  # type: ignore[assignment]
    await robot.fly()  # type: ignore[attr-defined]
    Geo.client(room, "geo")  # type: ignore[arg-type]


async def streams(room: rtc.Room) -> float:
    robot = Robot.client(room, "robot-1")
    readings: CallStream[JointState] = await robot.watch_joint(
        joint=2, every_ms=10, count=5, stream_options=StreamOptions(window_items=8, idle_timeout=10.0)
    )
    total = 0.0
    async with readings:
        async for reading in readings:
            total += reading.angle
    end: str | None = readings.end
    # A cancellable call is cancelled with its coroutine.
    try:
        await asyncio.wait_for(robot.calibrate(millis=10_000), 0.1)
    except asyncio.TimeoutError:
        pass
    async for wrong in await robot.watch_joint(joint=1, every_ms=1, count=1):
        text: str = wrong  # type: ignore[assignment]
        print(text)
    await robot.watch_joint(joint=1, every_ms=1, count=1, stream_options=5)  # type: ignore[arg-type]
    print(end)
    return total


class Arm:
    async def move_arm(self, *, joint: int, angle: float, invocation: rtc.RpcInvocationData) -> Pose:
        if angle > 90.0:
            reason = ArmErrorOutOfReach(OutOfReach=ArmErrorOutOfReachFields(joint=joint, max_angle=90.0))
            raise ApplicationError(reason, code=4001)
        return Pose(joint=joint, angle=angle)

    async def snapshot(self, *, size: int, invocation: rtc.RpcInvocationData) -> list[int]:
        return [0] * size

    async def whoami(self, *, invocation: rtc.RpcInvocationData) -> str:
        return invocation.caller_identity

    async def calibrate(self, *, millis: int, invocation: CancellableInvocation) -> None:
        try:
            await asyncio.wait_for(invocation.cancelled.wait(), millis / 1000)
        except asyncio.TimeoutError:
            pass

    async def watch_joint(
        self, *, joint: int, every_ms: int, count: int, invocation: CancellableInvocation
    ) -> AsyncIterator[JointState]:
        for seq in range(count):
            if invocation.cancelled.is_set():
                return
            yield JointState(joint=joint, angle=40.0, seq=seq)
            await asyncio.sleep(every_ms / 1000)


class ArmThatStreamsText(Arm):
    async def watch_joint(  # type: ignore[override]
        self, *, joint: int, every_ms: int, count: int, invocation: CancellableInvocation
    ) -> AsyncIterator[str]:
        yield "not a JointState"


class ArmThatCounts(Arm):
    async def whoami(self, *, invocation: rtc.RpcInvocationData) -> int:  # type: ignore[override]
        return 1


class HalfAnArm:
    async def move_arm(self, *, joint: int, angle: float, invocation: rtc.RpcInvocationData) -> Pose:
        return Pose(joint=joint, angle=angle)


def serve(room: rtc.Room) -> None:
    stop: Callable[[], None] = Robot.serve(room, Arm())
    stop()
    Robot.serve(room, ArmThatCounts())  # type: ignore[arg-type]
    Robot.serve(room, HalfAnArm())  # type: ignore[arg-type]
    Robot.serve(room, ArmThatStreamsText())  # type: ignore[arg-type]
    Pose(joint=1)  # type: ignore[call-arg]
    error: GeoError = GeoErrorUnknown(kind="unknown", city="Atlantis")
    print(error)
