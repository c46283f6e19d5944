"""Atomic output files: every file the tool writes appears whole or not at all.

One rule for every writer (CLI commands, the cohort runner, reports, caches): write a temporary
file in the destination folder (same file system, so the rename is atomic), flush and fsync it,
check it is not empty, then rename it over the destination. On any error the temporary file is
removed, the destination keeps its previous content (or does not exist), and the error becomes an
:class:`~alnpredictor.errors.OutputError` that names the file and says what to do — a full disk or
a read-only folder is a user-facing problem, not a traceback.

Writers that produce several files (a report: PDF + JSON + PNGs) use :class:`OutputGroup`: each
file is written to a temporary name and all are renamed only once every one was written.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from alnpredictor.errors import OutputError

__all__ = ["OutputGroup", "atomic_path", "write_bytes", "write_csv", "write_image", "write_json", "write_text"]


def _advice(exc: BaseException) -> str:
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full: free space or choose another output folder"
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "the folder is not writable: choose another output folder"
    if code == errno.EISDIR:
        return "that path is a folder: give a file name"
    if code == errno.ENOENT:
        return "the folder does not exist: create it or choose another"
    return "check the output folder and try again"


def output_error(path: str | Path, exc: BaseException) -> OutputError:
    """The tool's error for a file that could not be written (names it, says what to do)."""
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return OutputError(f"could not write {path}: {reason}; {_advice(exc)} (nothing was written)")


def _umask_mode() -> int:
    """The mode a plain ``open()`` gives a new file (0666 less the umask): ``mkstemp`` makes its
    files 0600, and the rename would keep that — outputs in a shared folder must stay readable."""
    try:  # Linux: read it without changing it (os.umask would, for a moment, in every thread)
        with open("/proc/self/status") as fh:
            mask = next(int(line.split()[1], 8) for line in fh if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        mask = os.umask(0)
        os.umask(mask)
    return 0o666 & ~mask


def _mkstemp(folder: Path, suffix: str) -> str:
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=suffix)
    try:
        os.fchmod(fd, _umask_mode())
    finally:
        os.close(fd)
    return tmp


def _fsync(path: str | Path, folder: bool = False) -> None:
    """fsync a file (errors raise) or a folder (not every file system allows it: errors ignored)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if folder:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not folder:
            raise
    finally:
        os.close(fd)


def _fsync_file(path: str) -> None:
    _fsync(path)


def _fsync_dir(folder: Path) -> None:
    _fsync(folder, folder=True)


def _refuse_symlink_or_dir(path: Path) -> None:
    if path.is_symlink():
        raise OutputError(f"could not write {path}: it is a symbolic link; give a plain file path "
                          "(the tool never writes through links)")
    if path.is_dir():
        raise OutputError(f"could not write {path}: that path is a folder; give a file name")


@contextlib.contextmanager
def atomic_path(path: str | Path, allow_empty: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; after the block, fsync it, check it has content, and
    rename it to ``path``. Any error (in the block or while finishing) removes the temporary file and
    raises :class:`OutputError`; ``path`` is then left as it was.

    The temporary name keeps ``path``'s suffixes (writers such as SimpleITK choose the format from
    them)."""
    path = Path(path)
    _refuse_symlink_or_dir(path)
    suffix = "".join(path.suffixes) or ".tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _mkstemp(path.parent, suffix)
    except OSError as exc:
        raise output_error(path, exc) from exc
    try:
        yield Path(tmp)
        _fsync_file(tmp)
        if not allow_empty and os.path.getsize(tmp) == 0:
            raise OutputError(f"could not write {path}: the written file is empty; free space or choose another "
                              "output folder (nothing was written)")
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OutputError:
        _discard(tmp)
        raise
    except OSError as exc:
        _discard(tmp)
        raise output_error(path, exc) from exc
    except BaseException:
        _discard(tmp)
        raise


def _discard(tmp: str | Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path, allow_empty=not data) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, payload: Any, **dump_options: Any) -> Path:
    """Write ``payload`` as JSON atomically (``dump_options`` go to :func:`json.dumps`). The text is
    built before anything is written, so a value that cannot be encoded leaves no file."""
    dump_options.setdefault("indent", 2)
    return write_text(path, json.dumps(payload, **dump_options) + "\n")


def write_csv(path: str | Path, frame, **to_csv_options: Any) -> Path:
    """Write a pandas DataFrame as CSV atomically (``index=False`` unless given)."""
    to_csv_options.setdefault("index", False)
    return write_text(path, frame.to_csv(**to_csv_options))


def write_image(path: str | Path, image, compress: bool = True) -> Path:
    """Write a SimpleITK image atomically; the temporary file is read back (header and voxels) before
    the rename, since ITK's writers may report success on a short write."""
    import SimpleITK as sitk

    with atomic_path(path) as tmp:
        try:
            sitk.WriteImage(image, str(tmp), useCompression=compress)
            back = sitk.ReadImage(str(tmp))
        except RuntimeError as exc:
            raise OutputError(f"could not write {path}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else exc}; "
                              "free space or choose another output folder (nothing was written)") from exc
        if back.GetSize() != image.GetSize():
            raise OutputError(f"could not write {path}: the written image is incomplete; free space or choose "
                              "another output folder (nothing was written)")
    return Path(path)


class OutputGroup:
    """Several files that appear together or not at all (e.g. a report's PDF, JSON and figures).

    ``group.path(final)`` gives a temporary path beside ``final`` to write to; :meth:`commit` checks
    every file and renames them all; leaving the ``with`` block without commit (an error) removes
    every temporary file and nothing appears::

        with OutputGroup() as group:
            write_pdf(group.path(out / "report.pdf"))
            group.write_json(out / "report.json", payload)
            group.commit()
    """

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []
        self._committed = False

    def __enter__(self) -> OutputGroup:
        return self

    def __exit__(self, *exc_info) -> None:
        if not self._committed:
            for tmp, _ in self._pending:
                _discard(tmp)

    def path(self, final: str | Path) -> Path:
        """A temporary path for ``final`` (same folder, same suffixes)."""
        final = Path(final)
        _refuse_symlink_or_dir(final)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = _mkstemp(final.parent, "".join(final.suffixes) or ".tmp")
        except OSError as exc:
            raise output_error(final, exc) from exc
        self._pending.append((Path(tmp), final))
        return Path(tmp)

    def write_with(self, final: str | Path, writer: Callable[[Path], Any]) -> Path:
        """Call ``writer(temporary path)`` for ``final``; OS errors become :class:`OutputError`."""
        tmp = self.path(final)
        try:
            writer(tmp)
        except OSError as exc:
            raise output_error(final, exc) from exc
        return Path(final)

    def write_json(self, final: str | Path, payload: Any, **dump_options: Any) -> Path:
        dump_options.setdefault("indent", 2)
        data = (json.dumps(payload, **dump_options) + "\n").encode("utf-8")
        return self.write_with(final, lambda tmp: Path(tmp).write_bytes(data))

    def commit(self) -> list[Path]:
        """fsync and check every file, then rename them all; raises :class:`OutputError` (and
        leaves nothing) if one is missing or empty or the disk refuses."""
        for tmp, final in self._pending:
            try:
                _fsync_file(str(tmp))
                if os.path.getsize(tmp) == 0:
                    raise OutputError(f"could not write {final}: the written file is empty; free space or choose "
                                      "another output folder (nothing was written)")
            except OSError as exc:
                raise output_error(final, exc) from exc
        done = []
        try:
            for tmp, final in self._pending:
                os.replace(tmp, final)
                done.append(final)
        except OSError as exc:  # pragma: no cover - a rename in one folder fails only if the folder vanished
            raise output_error(final, exc) from exc
        for folder in {final.parent for _, final in self._pending}:
            _fsync_dir(folder)
        self._committed = True
        return done
