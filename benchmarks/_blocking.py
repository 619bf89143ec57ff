"""Find what blocks an asyncio event loop: time every callback and name the slow ones by where their task was.

A task runs from one ``await`` that suspends to the next; the code in between
holds the loop.  For each callback slower than a threshold this records the
innermost frames of its task's coroutine chain *before* the step (where it
resumed) and *after* (where it suspended again), so the slow code lies between
those two places.  Used by ``benchmarks/_peer.py --trace-blocking MS``:

    python benchmarks/_peer.py async_ingest data/movies.csv data/series.csv \\
        --endpoint-url http://127.0.0.1:PORT --trace-blocking 5

Diagnostics only: it patches ``asyncio.events.Handle._run`` for the life of
the process and costs a few microseconds per callback.
"""

from __future__ import annotations

import asyncio
import asyncio.events
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BlockingTracer"]

FRAMES = 5


def _where(task: asyncio.Task[Any]) -> tuple[str, ...]:
    """The innermost frames (``file:line(function)``) of *task*'s chain of awaiting coroutines."""
    frames: list[str] = []
    coro: Any = task.get_coro()
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            break
        path = frame.f_code.co_filename
        short = path.split("site-packages/")[-1].split("/lib/python3")[-1]
        frames.append(f"{short}:{frame.f_lineno}({frame.f_code.co_name})")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return tuple(frames[-FRAMES:])


@dataclass
class BlockingTracer:
    """Records every event-loop callback slower than *threshold* seconds while ``active``."""

    threshold: float
    active: bool = False
    #: (resumed at, suspended at) -> [count, total seconds, max seconds, loop-thread CPU seconds]
    steps: dict[tuple[tuple[str, ...], tuple[str, ...]], list[float]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0.0, 0.0, 0.0])
    )

    def install(self) -> None:
        """Patch the loop's callback runner (for the rest of the process)."""
        original = asyncio.events.Handle._run
        tracer = self

        def _run(handle: asyncio.events.Handle) -> None:
            if not tracer.active:
                original(handle)
                return
            task = getattr(handle._callback, "__self__", None)  # Task.__step of a task's step
            is_task = isinstance(task, asyncio.Task)
            # Never repr() the callback: reprs have side effects (aiohttp's ClientResponse caches
            # its headers property on first access), so name it by its qualified name only.
            name = getattr(handle._callback, "__qualname__", type(handle._callback).__name__)
            before = _where(task) if is_task else (f"callback {name}",)
            started, cpu_started = time.perf_counter(), time.thread_time()
            original(handle)
            took = time.perf_counter() - started
            if took >= tracer.threshold:
                after = _where(task) if is_task else ()
                entry = tracer.steps[before, after]
                entry[0] += 1
                entry[1] += took
                entry[2] = max(entry[2], took)
                entry[3] += time.thread_time() - cpu_started

        asyncio.events.Handle._run = _run  # type: ignore[method-assign]

    def report(self, top: int = 12) -> str:
        """The slowest kinds of step, by total time."""
        ranked = sorted(self.steps.items(), key=lambda item: -item[1][1])[:top]
        total = sum(entry[1] for entry in self.steps.values())
        count = int(sum(entry[0] for entry in self.steps.values()))
        lines = [f"{count} loop callbacks >= {self.threshold * 1000:.0f} ms, {total * 1000:.0f} ms in all"]
        for (before, after), (n, spent, worst, cpu) in ranked:
            lines.append(
                f"{int(n):5d} x  total {spent * 1000:7.1f} ms  max {worst * 1000:6.1f} ms"
                f"  (loop thread on CPU {cpu * 1000:.1f} ms of it)"
            )
            lines.append(f"      resumed at:   {' > '.join(before) or '(task start)'}")
            lines.append(f"      suspended at: {' > '.join(after) or '(task end)'}")
        return "\n".join(lines)
