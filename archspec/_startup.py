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
    tenth of ``import archspec``. On the way out, what was loaded goes straight to the
    oldest generation (``gc.freeze`` then ``gc.unfreeze``, as documented) instead of
    making the next young collection walk all of it. That is skipped when the process
    already froze objects of its own (a pre-fork server), which unfreezing would undo.
    The collector's on/off state is restored.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        if was_enabled:
            gc.enable()


def freeze_imported() -> None:
    """For a short-lived command: move everything loaded so far out of the collector's sight.

    Later collections, and the final one at interpreter exit, then skip the tens of
    thousands of objects that make up the loaded modules (``gc.freeze``, meant for this).
    """
    gc.freeze()
