"""What the command line says on stderr besides results: notes, step progress, and how much (``-q`` / ``-v``).

Levels: ``quiet`` (``-q``: errors and warnings only), ``normal``, ``verbose`` (``-v``: every step with its
duration). Results always go to stdout; everything here goes to stderr.

:class:`Steps` shows a long run's steps (calibration, each ladder rung, each target's emit and check, which
include the C / Verilog builds): on a terminal as a tqdm bar (elapsed time, step i of n, what runs now);
elsewhere (a pipe, a CI log) silently, or one line per finished step with ``-v``. Without tqdm installed
(``pip install 'snncompile[cli]'``) a terminal gets the ``-v`` lines instead.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

PROG = "snncompile"
QUIET, NORMAL, VERBOSE = 0, 1, 2
_level = NORMAL


def set_level(level: int) -> None:
    global _level
    _level = level


def level() -> int:
    return _level


def note(message: str) -> None:
    """A line on stderr (``snncompile: <message>``) unless ``-q``."""
    if _level >= NORMAL:
        print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def detail(message: str) -> None:
    """A line on stderr only with ``-v``."""
    if _level >= VERBOSE:
        print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def _tty() -> bool:
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


class Steps:
    """Progress over ``total`` named steps; call :meth:`start` as each begins and :meth:`close` at the end."""

    def __init__(self, total: int, what: str, *, echo: bool = False) -> None:
        """``echo``: without a bar, print each step's name as it starts (``snncompile: <step>``, unless -q)."""
        self.total, self.what, self.echo = total, what, echo
        self.done = 0
        self.current: str | None = None
        self.t0 = self.t_step = time.perf_counter()
        self.bar: Any = None
        if _level >= NORMAL and _tty():
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                self.bar = tqdm(total=total, desc=what, file=sys.stderr, leave=False, dynamic_ncols=True,
                                bar_format="{desc}: {n_fmt}/{total_fmt} |{bar}| {elapsed}{postfix}")
        self.lines = self.bar is None and (_level >= VERBOSE or (_level >= NORMAL and _tty()))
        self._stop = threading.Event()
        if self.bar is not None:  # keep the elapsed time moving through a long step (a C or Verilog build)
            threading.Thread(target=self._tick, daemon=True).start()

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.bar.refresh()
            except Exception:  # the bar closed between the wait and the refresh
                return

    def _finish_current(self) -> None:
        if self.current is None:
            return
        took = time.perf_counter() - self.t_step
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            if _level >= VERBOSE:
                self.bar.write(f"{PROG}: {self.current}: {took:.2f} s", file=sys.stderr)
        elif self.lines:
            print(f"{PROG}: [{self.done}/{self.total}] {self.current}: done in {took:.2f} s", file=sys.stderr,
                  flush=True)
        self.current = None

    def start(self, step: str) -> None:
        self._finish_current()
        self.current, self.t_step = step, time.perf_counter()
        if self.bar is None and self.echo:
            note(step)
        if self.bar is not None:
            if self.done >= self.total:  # more steps than announced: grow the bar rather than overflow it
                self.total += 1
                self.bar.total = self.total
            self.bar.set_postfix_str(step, refresh=True)

    def close(self) -> None:
        self._finish_current()
        self._stop.set()
        if self.bar is not None:
            self.bar.close()
        if _level >= VERBOSE:
            print(f"{PROG}: {self.what}: {self.done} steps in {time.perf_counter() - self.t0:.2f} s", file=sys.stderr,
                  flush=True)

    def __enter__(self) -> Steps:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None and self.bar is not None:  # an error: drop the bar, the message says what failed
            self.current = None
        self.close()
