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
become a regular file. Remove them or write elsewhere. A file archspec writes only as a
side effect (the DOT source when ``dot`` is missing) is never put over an existing one
(``replace=False``). Writers that need the target's own name (ONNX external data,
``.pt2``) get a private staging directory, named, tracked and cleaned like a staged file.

Every failure is an :class:`OutputError` naming the target (a full disk, a read-only
place, a link in the way); the CLI turns it into one message and exit status 2.

This module is also the one reader of files users hand archspec besides specs (sample
indexes, results, metrics, latency tables): :func:`read_capped` opens only regular files,
never waits on a FIFO, and reads at most a stated number of bytes.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import secrets
import shutil
import signal
import stat
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


class OutputError(OSError):
    """An output that could not be written, naming the target (``filename``) and why
    (``strerror``); the target was left as it was."""


class OutputExists(OutputError, FileExistsError):
    """A file archspec would write only as a side effect (``replace=False``) is already there."""


class UnreadableFile(ValueError):
    """An input file archspec will not read: not a regular file, too large, not text or JSON.
    The message names the file and never quotes its content."""


def _output_error(exc: OSError, target: Path | str) -> OutputError:
    return OutputError(exc.errno, exc.strerror or str(exc), str(target))


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
        raise _output_error(exc, target) from None
    try:
        view = memoryview(data or b"")
        while view:  # os.write may take part of it; a full disk raises ENOSPC
            view = view[os.write(fd, view):]
    except OSError as exc:
        os.close(fd)
        _remove(tmp)
        _untrack(tmp)
        raise _output_error(exc, target) from None
    os.close(fd)
    return tmp


def _create_beside(target: Path) -> tuple[Path, int]:
    """A new, empty staged file (O_EXCL: never one that exists) and its descriptor.

    Tracked before it exists, so that a signal arriving in between still removes it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    return _claim_staging_name(target, lambda tmp: os.open(tmp, flags, 0o666))


def _claim_staging_name(target: Path, create: Any) -> Any:
    """``(path, create(path))`` for a fresh staged name beside ``target`` (``.NAME.PID-XXXXXXXX.tmp``),
    tracked for the signal handlers from before it exists; ``create`` must fail on an existing name."""
    for _ in range(100):
        tmp = target.parent / f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
        _track(tmp)
        try:
            return tmp, create(tmp)
        except FileExistsError:
            _untrack(tmp)
        except OSError:
            _untrack(tmp)
            raise
    raise OutputError(errno.EEXIST, "no free temporary name", str(target))


def check_target(target: Path) -> None:
    """Refuse a target we cannot replace by a rename without surprise (see the module docstring)."""
    try:
        mode = os.lstat(target).st_mode
    except OSError:
        return  # absent (the usual case) or unreachable: creating the temporary file will say
    if stat.S_ISLNK(mode):
        raise OutputError(errno.ELOOP, f"is a symbolic link (to {os.readlink(target)}); outputs are renamed into place, "
                                   "which would replace the link, not its file: remove the link or write to the "
                                   "file itself", str(target))
    if stat.S_ISDIR(mode):
        raise OutputError(errno.EISDIR, "is a directory, not a file", str(target))
    if not stat.S_ISREG(mode):
        raise OutputError(errno.EEXIST, "is not a regular file (a FIFO, socket or device); outputs are written only as "
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
    """Remove staged files and staging directories of ``target`` that a killed process left
    behind; return them. Only ours: our naming, our user, older than this process, staged by
    a process that no longer runs, and a plain file or directory (never a link)."""
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
        if (not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)) or info.st_uid != os.getuid()
                or info.st_mtime >= STARTED or (pid is not None and _running(int(pid)))):
            continue
        try:
            _delete(Path(entry.path), stat.S_ISDIR(info.st_mode))
            removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def _delete(path: Path, directory: bool) -> None:
    """Remove a staged file, or a staging directory and what it holds (links inside are removed, not followed)."""
    if directory:
        shutil.rmtree(path)
    else:
        os.unlink(path)


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
        except IsADirectoryError:  # a staging directory (Batch.named_path_for)
            shutil.rmtree(tmp, ignore_errors=True)
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


EXISTS = "exists and archspec did not write it as asked; it is left as it was: move it, or write elsewhere"


def _publish(tmp: Path, target: Path, replace: bool = True) -> None:
    """Rename ``tmp`` over ``target``; with ``replace=False`` only where nothing is there
    (a hard link fails if the name exists: no window between looking and placing)."""
    try:
        if replace:
            check_target(target)  # what the rename would replace may have changed since staging
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise OutputExists(errno.EEXIST, EXISTS, str(target)) from None
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                    raise
                if os.path.lexists(target):  # a filesystem without hard links: look, then rename
                    raise OutputExists(errno.EEXIST, EXISTS, str(target)) from None
                os.replace(tmp, target)
            else:
                os.unlink(tmp)
    except OutputError:
        raise
    except OSError as exc:
        raise _output_error(exc, target) from None
    _untrack(tmp)


def _named(exc: OSError, staged: dict[Path, Path], last: Path | None) -> OSError:
    """``exc`` naming the target being written: a full disk says which file did not fit."""
    if isinstance(exc, OutputError):
        return exc
    name = exc.filename
    target = staged.get(Path(name)) if name is not None else last
    if target is None:
        return exc
    return _output_error(exc, target)


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


class WholeWrites(io.RawIOBase):
    """A binary file whose ``write`` writes everything or raises ``OSError``.

    ``torch.save`` into a path (or a buffered file) turns a full disk or a file-size limit
    into "unexpected pos" RuntimeErrors: the OS accepted part of a write and refused the
    rest. Writing through this, the refusal surfaces as ENOSPC or EFBIG, which the caller
    reports against the target; leaving the ``with`` block, the first write error replaces
    whatever the writer raised because of it (torch's zip writer raises its own on the way out).
    It is a writable, seekable raw file (``io.RawIOBase``), as ``torch.export.save`` expects of
    a file object (it warns on anything else).
    """

    def __init__(self, path: str | Path):
        super().__init__()
        self._file = open(path, "wb", buffering=0)
        self.error: OSError | None = None

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._file.seekable()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

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
        if not self._file.closed:
            self._file.flush()

    def close(self) -> None:
        self._file.close()
        super().close()

    def __enter__(self) -> "WholeWrites":
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        self.close()
        if exc is not None and self.error is not None and not isinstance(exc, OSError):
            raise self.error from None


def write_text(target: str | Path, text: str, sweep: bool = True, replace: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically: staged beside it, then renamed over it.

    ``replace=False``: for a file the user did not name (a fallback, a side file), refuse
    (:class:`OutputError`, EEXIST) to put it over one that exists."""
    return write_bytes(target, text.encode("utf-8"), sweep, replace)


def write_bytes(target: str | Path, data: bytes, sweep: bool = True, replace: bool = True) -> Path:
    """Write ``data`` to ``target`` atomically (see :func:`write_text`)."""
    target = Path(target)
    if not replace and os.path.lexists(target):  # before staging anything
        raise OutputExists(errno.EEXIST, EXISTS, str(target))
    tmp = _temp_beside(target, sweep, data)
    try:
        _publish(tmp, target, replace)
    finally:
        if tmp in _live:
            _remove(tmp)
    return target


def append_line(target: str | Path, line: bytes) -> None:
    """Append one whole line to ``target`` (one write on an O_APPEND descriptor, then fsync).

    For logs read line by line (a sweep's ``results.jsonl``): a crash leaves every earlier
    line whole, and a torn last line is closed first. Refuses what :func:`check_target`
    refuses, checked on the descriptor itself: a link is not followed, a FIFO not waited on.
    """
    target = Path(target)
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | \
        getattr(os, "O_CLOEXEC", 0)
    existed = os.path.lexists(target)
    try:
        fd = os.open(target, flags, 0o666)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):  # a link; a FIFO with no reader; a directory
            check_target(target)
        raise _output_error(exc, target) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OutputError(errno.EEXIST, "is not a regular file (a FIFO, socket or device); outputs are written "
                                            "only as regular files: remove it or write elsewhere", str(target))
        if info.st_size and os.pread(fd, 1, info.st_size - 1) != b"\n":
            line = b"\n" + line
        view = memoryview(line)
        try:
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError:
            os.ftruncate(fd, info.st_size)  # a full disk: take back the part of the line that was written
            if not existed:
                os.unlink(target)
            raise
    except OutputError:
        raise
    except OSError as exc:
        raise _output_error(exc, target) from None
    finally:
        os.close(fd)


def open_log(target: str | Path) -> Any:
    """A log file another process writes into as it runs (a sweep command's stdout and stderr):
    created or emptied, the one output that is not staged, since it grows while it is read.
    Never through a symbolic link and never a FIFO: the same refusals as :func:`check_target`,
    checked on the descriptor."""
    target = Path(target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(target, flags, 0o666)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
            check_target(target)
        raise _output_error(exc, target) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OutputError(errno.EEXIST, "is not a regular file (a FIFO, socket or device); outputs are written "
                                            "only as regular files: remove it or write elsewhere", str(target))
        os.ftruncate(fd, 0)
        os.set_blocking(fd, True)
    except OutputError:
        os.close(fd)
        raise
    except OSError as exc:
        os.close(fd)
        raise _output_error(exc, target) from None
    return os.fdopen(fd, "wb")


def _staging_dir(target: Path) -> Path:
    """A new private directory beside ``target``, named like a staged file of it
    (``.NAME.PID-XXXXXXXX.tmp``), tracked for the signal handlers from before it exists."""
    return _claim_staging_name(target, lambda tmp: os.mkdir(tmp, 0o700))[0]


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
        check_target(target)
        directory = next((d for d in self._dirs if d.parent == target.parent), None)
        if directory is None:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                remove_stale(target)
                directory = _staging_dir(target)
            except OSError as exc:
                raise _output_error(exc, target) from None
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
            _untrack(directory)
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


# --- the reader --------------------------------------------------------------------------------

KiB, MiB = 1024, 1024 * 1024
NOT_REGULAR = "is not a regular file (a FIFO, socket or device), so it is not read"


def read_capped(path: str | Path, limit: int, what: str = "file") -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them, or :class:`UnreadableFile`.

    Opened without waiting (a FIFO nobody writes to would block ``open`` for ever, deaf to
    SIGINT), then checked on the descriptor: a FIFO, socket, device or directory is refused
    and one larger than ``limit`` is refused unread, so a hostile file costs neither time
    nor memory. Links are followed (a results file may be one). ``FileNotFoundError``
    passes through: absence is the caller's to explain. Messages name ``what`` and the
    file, never its content.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise UnreadableFile(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UnreadableFile(f"{path}: the {what} is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFile(f"{path}: the {what} {NOT_REGULAR}")
        if info.st_size > limit:
            raise UnreadableFile(f"{path}: the {what} is larger than {limit:,} bytes ({info.st_size:,}); "
                                 "it is not read")
        chunks, size = [], 0
        while size <= limit:  # the file may grow while we read: never more than the limit
            chunk = os.read(fd, min(limit + 1 - size, MiB))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise UnreadableFile(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise UnreadableFile(f"{path}: the {what} is larger than {limit:,} bytes; it is not read")
    return b"".join(chunks)


def read_json(path: str | Path, limit: int, what: str = "JSON file") -> Any:
    """One JSON document from the regular file ``path`` (:func:`read_capped`), or :class:`UnreadableFile`
    saying why (not UTF-8, not JSON, nested too deeply) without quoting it."""
    return _parse_json(read_capped(path, limit, what), f"{path}", what)


def read_json_lines(path: str | Path, limit: int, what: str = "JSON-lines file") -> list[tuple[int, Any]]:
    """``(line number, value)`` for each non-blank line of ``path``; ``value`` is :data:`TORN`
    for a line that is not JSON (a crash's torn last line, or damage): callers decide."""
    text = read_capped(path, limit, what).decode("utf-8", errors="replace")
    rows = []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            try:
                rows.append((number, _parse_json(line.encode("utf-8"), f"{path}:{number}", what)))
            except UnreadableFile:
                rows.append((number, TORN))
    return rows


TORN = object()  # read_json_lines: a line that is not a JSON value


def _parse_json(data: bytes, where: str, what: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"{where}: the {what} is not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise UnreadableFile(f"{where}: the {what} is not JSON ({exc.msg} at line {exc.lineno}, "
                             f"column {exc.colno})") from None
    except RecursionError:
        raise UnreadableFile(f"{where}: the {what} is nested too deeply to read") from None
    except ValueError:  # a number past Python's digit limit for int()
        raise UnreadableFile(f"{where}: the {what} holds a number too long to read") from None
