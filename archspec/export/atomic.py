"""Atomic output: write next to the target, then rename, so no reader sees half a file."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _temp_beside(target: Path) -> Path:
    """An empty temporary file in the target's directory (same filesystem, so rename is atomic).

    mkstemp creates it 0600; give it the mode a plain ``open`` would (0666 less the umask).
    """
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file", str(target))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:  # name the file asked for, not the temporary one
        raise OSError(exc.errno, exc.strerror, str(target)) from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, (stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IWGRP | stat.S_IROTH | stat.S_IWOTH) & ~umask)
    return Path(tmp)


@contextmanager
def staged(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` only on success."""
    tmp = _temp_beside(Path(target))
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(target: str | Path, text: str) -> Path:
    with staged(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def write_bytes(target: str | Path, data: bytes) -> Path:
    with staged(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


class Batch:
    """Stage several outputs and publish them together: a failure leaves every target untouched."""

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []

    def path_for(self, target: str | Path) -> Path:
        tmp = _temp_beside(Path(target))
        self._pending.append((tmp, Path(target)))
        return tmp

    def commit(self) -> list[Path]:
        for tmp, target in self._pending:
            os.replace(tmp, target)
        done = [target for _, target in self._pending]
        self._pending.clear()
        return done

    def discard(self) -> None:
        for tmp, _ in self._pending:
            if tmp.exists():
                tmp.unlink()
        self._pending.clear()

    def __enter__(self) -> "Batch":
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()
