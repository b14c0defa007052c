"""Atomic output: write next to the target, then rename, so no reader sees half a file.

Staged files are named ``.NAME.PID-XXXXXXXX.tmp`` beside their target. They never
outlive the write when we can help it:

* an exception (a full disk included) removes them, and the error names the target,
  not the temporary file;
* SIGTERM or SIGHUP while any is staged removes them, then lets the signal do what it
  would have done (the default: the process ends, killed by that signal);
* a process killed outright (SIGKILL, power loss) leaves them behind, so the next write
  of the same target removes its stale ones: our exact naming, owned by us, older than
  this process, and staged by a process that no longer runs.

Targets that are symbolic links, FIFOs, sockets or devices are refused: renaming over
a link would replace the link, not the file it points to, and a FIFO would silently
become a regular file. Remove them or write elsewhere.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import signal
import stat
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, Iterator

STARTED = time.time()  # staged files older than this process may be stale
CLEANUP_SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s)
_live: set[Path] = set()  # staged by this process, not yet renamed or removed
_previous: dict[int, Any] = {}  # signal -> the handler ours replaced while files are staged
_lock = threading.RLock()


def _temp_beside(target: Path, sweep: bool = True, data: bytes | None = None) -> Path:
    """A temporary file in the target's directory (same filesystem, so rename is atomic), holding
    ``data`` when given (written through the creating descriptor: no second open).

    Created with mode 0666 less the umask, the mode a plain ``open`` gives; named
    ``.NAME.PID-XXXXXXXX.tmp`` (:func:`staging_pattern`). ``sweep=False`` skips
    :func:`remove_stale`, which lists the whole directory: for a caller writing thousands of
    files there, that has looked for stale ones once itself.
    """
    check_target(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if sweep:
            remove_stale(target)
        tmp, fd = _create_beside(target)
    except OSError as exc:  # name the file asked for, not the temporary one
        raise OSError(exc.errno, exc.strerror, str(target)) from None
    try:
        view = memoryview(data or b"")
        while view:  # os.write may take part of it; a full disk raises ENOSPC
            view = view[os.write(fd, view):]
    except OSError as exc:
        os.close(fd)
        _remove(tmp)
        _untrack(tmp)
        raise OSError(exc.errno, exc.strerror, str(target)) from None
    os.close(fd)
    return tmp


def _create_beside(target: Path) -> tuple[Path, int]:
    """A new, empty staged file (O_EXCL: never one that exists) and its descriptor.

    Tracked before it exists, so that a signal arriving in between still removes it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = target.parent / f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
        _track(tmp)
        try:
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:
            _untrack(tmp)
        except OSError:
            _untrack(tmp)
            raise
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(target))


def check_target(target: Path) -> None:
    """Refuse a target we cannot replace by a rename without surprise (see the module docstring)."""
    try:
        mode = os.lstat(target).st_mode
    except OSError:
        return  # absent (the usual case) or unreachable: creating the temporary file will say
    if stat.S_ISLNK(mode):
        raise OSError(errno.ELOOP, f"is a symbolic link (to {os.readlink(target)}); outputs are renamed into place, "
                                   "which would replace the link, not its file: remove the link or write to the "
                                   "file itself", str(target))
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file", str(target))
    if not stat.S_ISREG(mode):
        raise OSError(errno.EEXIST, "is not a regular file (a FIFO, socket or device); outputs are written only as "
                                    "regular files: remove it or write elsewhere", str(target))


_STAGED_SUFFIX = r"\.(?:(\d+)-)?[a-z0-9_]{8}\.tmp"  # .PID-XXXXXXXX.tmp, or .XXXXXXXX.tmp before 0.2
_ANY_STAGED = re.compile(rf"\.(.+?){_STAGED_SUFFIX}")


def staging_pattern(target: Path) -> re.Pattern[str]:
    """Our staged files for ``target``: ``.NAME.PID-XXXXXXXX.tmp``, or ``.NAME.XXXXXXXX.tmp`` as
    versions before 0.2 named them (``XXXXXXXX``: mkstemp's eight characters)."""
    return re.compile(rf"\.{re.escape(target.name)}{_STAGED_SUFFIX}")


def staged_targets(directory: Path | None) -> set[str]:
    """Names of the targets in ``directory`` that have staged files of ours beside them: one
    listing, for a caller writing many files there (``write_text(..., sweep=False)`` for the rest)."""
    if directory is None:
        return set()
    try:
        return {m.group(1) for entry in os.scandir(directory) if (m := _ANY_STAGED.fullmatch(entry.name))}
    except OSError:  # not there yet (the usual case) or unreadable: writing will say
        return set()


def remove_stale(target: Path) -> list[Path]:
    """Remove staged files of ``target`` that a killed process left behind; return them."""
    pattern = staging_pattern(target)
    removed = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        pid = match.group(1)
        if (not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mtime >= STARTED
                or (pid is not None and _running(int(pid)))):
            continue
        try:
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it runs, as someone else
        return True
    return True


def _track(tmp: Path) -> None:
    with _lock:
        _live.add(tmp)
        if threading.current_thread() is threading.main_thread():
            for signum in CLEANUP_SIGNALS:
                if signum not in _previous and signal.getsignal(signum) not in (signal.SIG_IGN, _on_signal):
                    _previous[signum] = signal.signal(signum, _on_signal)


def _untrack(tmp: Path) -> None:
    with _lock:
        _live.discard(tmp)
        if not _live and threading.current_thread() is threading.main_thread():
            for signum, handler in list(_previous.items()):
                if signal.getsignal(signum) is _on_signal:
                    signal.signal(signum, handler)
                del _previous[signum]


def _on_signal(signum: int, frame: FrameType | None) -> None:
    """Remove every staged file, then hand the signal to whoever had it before us.

    It runs between two bytecodes of the main thread, maybe inside ``_track``: no lock here.
    """
    for tmp in list(_live):
        try:
            os.unlink(tmp)
        except OSError:
            pass
    _live.clear()
    previous = _previous.pop(signum, signal.SIG_DFL)
    for other, handler in list(_previous.items()):
        signal.signal(other, handler)
    _previous.clear()
    if callable(previous):
        signal.signal(signum, previous)
        previous(signum, frame)
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _remove(tmp: Path) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    _untrack(tmp)


def _publish(tmp: Path, target: Path) -> None:
    try:
        os.replace(tmp, target)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(target)) from None
    _untrack(tmp)


def _named(exc: OSError, staged: dict[Path, Path], last: Path | None) -> OSError:
    """``exc`` naming the target being written: a full disk says which file did not fit."""
    name = exc.filename
    target = staged.get(Path(name)) if name is not None else last
    if target is None:
        return exc
    return OSError(exc.errno, exc.strerror or str(exc), str(target))


@contextmanager
def staged(target: str | Path, sweep: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` only on success."""
    target = Path(target)
    tmp = _temp_beside(target, sweep)
    try:
        yield tmp
        _publish(tmp, target)
    except OSError as exc:
        raise _named(exc, {tmp: target}, target) from None
    finally:
        if tmp in _live:
            _remove(tmp)


class WholeWrites:
    """A binary file whose ``write`` writes everything or raises ``OSError``.

    ``torch.save`` into a path (or a buffered file) turns a full disk or a file-size limit
    into "unexpected pos" RuntimeErrors: the OS accepted part of a write and refused the
    rest. Writing through this, the refusal surfaces as ENOSPC or EFBIG, which the caller
    reports against the target; leaving the ``with`` block, the first write error replaces
    whatever the writer raised because of it (torch's zip writer raises its own on the way out).
    """

    def __init__(self, path: str | Path):
        self._file = open(path, "wb", buffering=0)
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        done = 0
        try:
            while done < len(view):
                written = self._file.write(view[done:])
                if not written:  # the OS took nothing and said nothing: a full disk in all but name
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                done += written
        except OSError as exc:
            self.error = self.error or exc
            raise
        return done

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "WholeWrites":
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        self.close()
        if exc is not None and self.error is not None and not isinstance(exc, OSError):
            raise self.error from None


def write_text(target: str | Path, text: str, sweep: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically: staged beside it, then renamed over it."""
    target = Path(target)
    tmp = _temp_beside(target, sweep, text.encode("utf-8"))
    try:
        _publish(tmp, target)
    finally:
        if tmp in _live:
            _remove(tmp)
    return target


def write_bytes(target: str | Path, data: bytes) -> Path:
    with staged(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


class Batch:
    """Stage several outputs and publish them together: a failure leaves every target untouched.

    Write each output right after staging it: an error that names no file (a full disk) is
    reported against the target staged last.
    """

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
            _publish(tmp, target)
        done = [target for _, target in self._pending]
        self._pending.clear()
        self._remove_dirs()
        return done

    def discard(self) -> None:
        for tmp, _ in self._pending:
            _remove(tmp)
        self._pending.clear()
        self._remove_dirs()

    def _remove_dirs(self) -> None:
        for directory in self._dirs:
            shutil.rmtree(directory, ignore_errors=True)
        self._dirs.clear()

    def __enter__(self) -> "Batch":
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        staged = dict(self._pending)
        last = self._pending[-1][1] if self._pending else None
        self.discard()
        if isinstance(exc, OSError):
            named = _named(exc, staged, last)
            if named is not exc:
                raise named from None
