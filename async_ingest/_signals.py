"""The command's signals: SIGINT (Ctrl-C), SIGTERM and SIGHUP (a closed terminal, a dropped ssh session).

The first cancels the run, which still aborts the uploads it has open and reports; a second
exits at once.  Either way the exit code is 128 + the signal's number: 130, 143, 129.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable

import anyio
from anyio.abc import TaskStatus

from ._output import signal_exit_code

__all__ = ["run_signals", "say", "watch_signals"]


def run_signals() -> tuple[signal.Signals, ...]:
    """The signals that interrupt a run: SIGINT, SIGTERM and SIGHUP, unless SIGHUP was ignored when the
    process started (``nohup``): such a run is meant to outlive its terminal."""
    hangup = () if signal.getsignal(signal.SIGHUP) is signal.SIG_IGN else (signal.SIGHUP,)
    return (signal.SIGINT, signal.SIGTERM, *hangup)


def say(message: str) -> None:
    """One line on stderr; if stderr is gone (a closed terminal, a closed pipe), nothing: the run goes on."""
    if sys.stderr is None:  # closed at start (2>&-)
        return
    with contextlib.suppress(OSError):
        print(message, file=sys.stderr, flush=True)


async def watch_signals(
    scope: anyio.CancelScope,
    on_signal: Callable[[int], None],
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Cancel *scope* at the first signal, after calling *on_signal* with it; exit at once at the second.

    Run it outside *scope*, so that it still listens while the cancelled run aborts its uploads;
    it reports started once the signals are its own.
    """
    with anyio.open_signal_receiver(*run_signals()) as signals:
        task_status.started()
        interrupted = False
        async for signum in signals:
            if interrupted:
                # The user wants out now, cleanup or not.
                # \x1b[?25h: show the cursor a live display may have hidden.
                show_cursor = "\x1b[?25h" if sys.stderr is not None and sys.stderr.isatty() else ""
                say(f"{show_cursor}async-ingest: interrupted again, exiting now")
                os._exit(signal_exit_code(signum))
            interrupted = True
            on_signal(signum)
            scope.cancel()
