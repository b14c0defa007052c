"""What a build is doing, as it happens: a live status on a terminal, flushed lines when piped.

Each step prints ``name: 1.23 s`` when it ends. On a terminal a rich status spinner shows
the running step meanwhile; piped, a ``name ...`` line is printed (and flushed) as it starts. ``--quiet`` makes every step silent.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console


class Progress:
    def __init__(self, console: Console, quiet: bool = False):
        self.console = console
        self.quiet = quiet
        self.live = console.is_terminal and not quiet
        self.started = time.perf_counter()  # the whole command's time, printed at its end

    def elapsed(self) -> float:
        """Seconds since the command started (its progress was created)."""
        return time.perf_counter() - self.started

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        if self.quiet:
            yield
            return
        start = time.perf_counter()
        if self.live:
            with self.console.status(f"{name} ...", spinner="dots"):
                yield
        else:
            self.line(f"{name} ...")  # piped: a line when the step starts too, flushed
            yield
        self.line(f"{name}: {time.perf_counter() - start:.2f} s")

    def line(self, text: str) -> None:
        """A message between the steps (what was applied, loaded or written)."""
        if self.quiet:
            return
        self.console.print(text, markup=False, highlight=False)
        self.console.file.flush()
