"""The one atomic writer: every file the program writes appears whole or not at all.

A failed write (a full disk, a read-only folder, a file where a folder should be) removes
its temporary file and raises OutputError naming the path, never a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from newsletter.errors import OutputError


def _failure(exc: OSError, path: Path) -> OutputError:
    reason = exc.strerror or str(exc)
    hint = {28: "free some disk space", 30: "the file system is read-only",
            13: "check the folder's permissions"}.get(exc.errno or 0)
    return OutputError(f"cannot write: {reason}", path=path, hint=hint)


def make_folder(folder: Path) -> None:
    """mkdir -p, as a one-line error (a file in the way, no permission, a full disk)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise OutputError("is a file, not a folder", path=folder,
                          hint="move the file away or set another folder") from exc
    except OSError as exc:
        raise _failure(exc, folder) from exc


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
    make_folder(folder.parent)
    if folder.is_symlink() or folder.exists():
        if not folder.is_dir():
            raise OutputError("is a file, not a folder", path=folder,
                              hint="move the file away or set another outbox_dir")
        staged: dict[Path, Path] = {}
        try:
            for name, data in files.items():
                staged[folder / name] = _stage(folder / name, data, 0o644, sync=True)
        except BaseException:
            for tmp in staged.values():
                tmp.unlink(missing_ok=True)
            raise
        _replace_all(staged)  # every file is on disk before the first one is replaced
        return
    try:
        staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    except OSError as exc:
        raise _failure(exc, folder) from exc
    try:
        staging.chmod(0o755)  # mkdtemp makes it private; an outbox folder is not
        for name, data in files.items():
            _write_file(staging / name, data, sync=True)
        os.rename(staging, folder)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise _failure(exc, folder) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def json_bytes(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
