"""Start-up cost: what ``import archspec`` and the CLI do to start in a fraction of a second."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause CPython's cyclic garbage collector while modules load, then restore it.

    Building Pydantic's validators allocates enough to trigger dozens of collections
    that find nothing to free (module-level objects live for the whole process): about a
    tenth of ``import archspec``. The collector's state is restored, so a library user's
    process is left as it was.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def freeze_imported() -> None:
    """For a short-lived command: move everything loaded so far out of the collector's sight.

    Later collections, and the final one at interpreter exit, then skip the tens of
    thousands of objects that make up the loaded modules (``gc.freeze``, meant for this).
    """
    gc.freeze()
