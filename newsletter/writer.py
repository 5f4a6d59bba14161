"""Writers' second half: an issue folder in the outbox, written atomically."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path


def write_issue_folder(folder: Path, files: dict[str, bytes]) -> None:
    """Write all files or none.

    Everything is rendered before this is called. A new folder is built under a temporary
    name and renamed into place; an existing one gets each file via a temporary name and
    os.replace, so readers see the old file or the new one, never half of one, and files
    other than ours (such as sent/ from delivery) stay where they are.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    if not folder.exists():
        staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
        try:
            staging.chmod(0o755)  # mkdtemp makes it private; an outbox folder is not
            for name, data in files.items():
                _write_synced(staging / name, data)
            os.rename(staging, folder)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return
    temporary = {}
    try:
        for name, data in files.items():
            temp = folder / f".{name}.tmp"
            _write_synced(temp, data)
            temporary[name] = temp
        for name, temp in temporary.items():
            os.replace(temp, folder / name)
    finally:
        for temp in temporary.values():
            temp.unlink(missing_ok=True)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def json_bytes(data: dict) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
