"""The one atomic writer: every file the program writes appears whole or not at all.

A failed write (a full disk, a read-only folder, a file where a folder should be) removes
its temporary file and raises OutputError naming the path, never a traceback.

Symbolic links to folders are followed: an outbox (or outbox/<date>) that is a link to a
folder elsewhere is written into that folder, with the temporary files beside their targets
there, so every rename stays on one file system and atomic. A link in place of one of the
files written is replaced by the file; what it pointed to is left alone.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from newsletter.errors import OutputError

_HINTS = {
    errno.ENOSPC: "free some disk space",
    errno.EDQUOT: "free some space or raise the disk quota",
    errno.EROFS: "remount the file system read-write or choose another folder",
    errno.EACCES: "check the folder's permissions",
    errno.EPERM: "check the folder's permissions",
    errno.EISDIR: "a folder is in the way: move it away",
    errno.ELOOP: "a symbolic link points back to itself: fix or remove it",
}


def _not_a_folder(path: Path) -> OutputError:
    """Why `path`, which exists, cannot hold files: a file, or a link to nothing or a file."""
    if not path.is_symlink():
        return OutputError("is a file, not a folder", path=path,
                           hint="move the file away or set another folder")
    target = os.readlink(path)
    point = "point it at a folder or remove the link"
    if _loops(path):
        what, hint = "is a symbolic link that leads back to itself", point
    elif not path.exists():
        what = f"is a symbolic link to {target}, which does not exist"
        hint = "create that folder or remove the link"
    else:
        what, hint = f"is a symbolic link to {target}, which is not a folder", point
    # Named in the text, not as `path=`: display_path resolves the link to its target
    # (and fails on a loop), but this is about the link itself.
    return OutputError(f"{_link_shown(path)}: {what}", hint=hint)


def _link_shown(link: Path) -> str:
    """The link's own path, relative to the working directory when it is below it."""
    try:
        return str((link.parent.resolve() / link.name).relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):
        return str(link)


def _loops(path: Path) -> bool:
    try:
        path.stat()
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def _in_the_way(path: Path) -> Path | None:
    """The first of `path` and its parents that exists but is not a folder."""
    for candidate in [*reversed(path.parents), path]:
        if os.path.lexists(candidate) and not candidate.is_dir():
            return candidate
    return None


def _failure(exc: OSError, path: Path) -> OutputError:
    if exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.ELOOP):
        blocker = _in_the_way(path)
        if blocker is not None:
            return _not_a_folder(blocker)
    reason = exc.strerror or str(exc)
    hint = _HINTS.get(exc.errno or 0)
    if exc.errno == errno.ELOOP:  # display_path cannot resolve it: named in the text
        return OutputError(f"{_link_shown(path)}: cannot write: {reason}", hint=hint)
    return OutputError(f"cannot write: {reason}", path=path, hint=hint)


def _check_writable(folder: Path) -> None:
    # Asked up front so that a folder nothing can be written to (a read-only mount, no
    # permission) is one error before the work starts, not a failure per file: the outbox
    # transport retries a failed message as temporary, and this is not.
    if os.access(folder, os.W_OK | os.X_OK):
        return
    code = errno.EROFS if os.statvfs(folder).f_flag & os.ST_RDONLY else errno.EACCES
    raise _failure(OSError(code, os.strerror(code)), folder)


def make_folder(folder: Path) -> None:
    """mkdir -p, and a folder files can be written to; else a one-line OutputError.

    A file (or a link to nothing) in the way, no permission, a read-only or full disk.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _failure(exc, folder) from exc
    _check_writable(folder)


def _write_file(path: Path, data: bytes, sync: bool) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        if sync:
            handle.flush()
            os.fsync(handle.fileno())


def _stage(path: Path, data: bytes, mode: int, sync: bool) -> Path:
    """`data` in a temporary file beside `path`; removed again if anything fails."""
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _failure(exc, path) from exc
    os.close(fd)
    tmp = Path(name)
    try:
        _write_file(tmp, data, sync)
        os.chmod(tmp, mode)  # mkstemp makes it private; our files are not
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _failure(exc, path) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _replace_all(staged: dict[Path, Path]) -> None:
    try:
        for target, tmp in staged.items():
            try:
                os.replace(tmp, target)
            except OSError as exc:
                raise _failure(exc, target) from exc
    finally:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644, sync: bool = False) -> None:
    """Write via a temporary file in the same folder and rename it into place.

    `sync` makes the data durable before the rename (fsync), for files nothing else records.
    """
    make_folder(path.parent)
    _replace_all({path: _stage(path, data, mode, sync)})


def write_text_atomic(path: Path, text: str) -> None:
    """A UTF-8 text file with \\n line ends, written atomically."""
    write_atomic(path, text.encode("utf-8"))


def write_folder_atomic(folder: Path, files: dict[str, bytes]) -> None:
    """Write all files of a folder or none.

    Everything is rendered before this is called. A new folder is built under a temporary
    name and renamed into place; an existing one gets each file via write_atomic, so readers
    see the old file or the new one, never half of one, and files other than ours (such as
    sent/ from delivery) stay where they are.
    """
    if os.path.lexists(folder):
        if not folder.is_dir():
            raise _not_a_folder(folder)
        make_folder(folder)
        _replace_files(folder, files)
    else:
        make_folder(folder.parent)
        _new_folder(folder, files)


def _replace_files(folder: Path, files: dict[str, bytes]) -> None:
    staged: dict[Path, Path] = {}
    try:
        for name, data in files.items():
            staged[folder / name] = _stage(folder / name, data, 0o644, sync=True)
    except BaseException:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
        raise
    _replace_all(staged)  # every file is on disk before the first one is replaced


def _new_folder(folder: Path, files: dict[str, bytes]) -> None:
    try:
        staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    except OSError as exc:
        raise _failure(exc, folder) from exc
    target = folder
    try:
        staging.chmod(0o755)  # mkdtemp makes it private; an outbox folder is not
        for name, data in files.items():
            target = folder / name
            _write_file(staging / name, data, sync=True)
        target = folder
        os.rename(staging, folder)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise _failure(exc, target) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def json_bytes(data: dict[str, Any]) -> bytes:
    """`data` as indented UTF-8 JSON with a final newline (issue.json)."""
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
