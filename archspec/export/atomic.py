"""Atomic output: write next to the target, then rename, so no reader sees half a file."""

from __future__ import annotations

import errno
import os
import shutil
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
        self._dirs: list[Path] = []

    def path_for(self, target: str | Path) -> Path:
        tmp = _temp_beside(Path(target))
        self._pending.append((tmp, Path(target)))
        return tmp

    def named_path_for(self, target: str | Path) -> Path:
        """A staged path with the target's own file name, in a private temporary directory beside it.

        For writers that derive names from the path they are given (an ONNX file's
        external data, ``NAME.onnx.data``; torch.export's ``.pt2`` suffix). Targets in one
        directory share one private directory, so a staged file can refer to another by name.
        """
        target = Path(target)
        if target.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a directory, not a file", str(target))
        directory = next((d for d in self._dirs if d.parent == target.parent), None)
        if directory is None:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                directory = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
            except OSError as exc:
                raise OSError(exc.errno, exc.strerror, str(target)) from None
            self._dirs.append(directory)
        staged = directory / target.name
        self._pending.append((staged, target))
        return staged

    def commit(self) -> list[Path]:
        for tmp, target in self._pending:
            os.replace(tmp, target)
        done = [target for _, target in self._pending]
        self._pending.clear()
        self._remove_dirs()
        return done

    def discard(self) -> None:
        for tmp, _ in self._pending:
            if tmp.exists():
                tmp.unlink()
        self._pending.clear()
        self._remove_dirs()

    def _remove_dirs(self) -> None:
        for directory in self._dirs:
            shutil.rmtree(directory, ignore_errors=True)
        self._dirs.clear()

    def __enter__(self) -> "Batch":
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()
