"""Writing the outbox when the disk says no: a full or read-only file system, a file or a
broken link where a folder should be. Each is one line on stderr with exit code 2, nothing
half-written is left behind, and the previous issue stays as it was.

The disks are real: these tests run as root and mount small tmpfs file systems and read-only
bind mounts under the test's folder (and unmount them, whatever happens).
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from newsletter.cli import cli
from support.project import Project
from support.smtp import DATE, prepare_project

NEXT = "2025-12-05"


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode:
        raise AssertionError(f"`mount {' '.join(args)}` failed: {done.stderr.strip()} "
                             "(these tests need root to mount real file systems)")


def _umount(mountpoint: Path) -> None:
    done = subprocess.run(["umount", str(mountpoint)], capture_output=True, text=True,
                          check=False)
    if done.returncode:  # still busy: detach it now, the kernel finishes when it can
        subprocess.run(["umount", "-l", str(mountpoint)], check=True)


@contextmanager
def _tmpfs(mountpoint: Path, size: str) -> Iterator[Path]:
    mountpoint.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint))
    try:
        yield mountpoint
    finally:
        _umount(mountpoint)


@contextmanager
def _read_only(folder: Path) -> Iterator[Path]:
    _mount("--bind", str(folder), str(folder))
    try:
        _mount("-o", "remount,bind,ro", str(folder))
        yield folder
    finally:
        _umount(folder)


def _fill(disk: Path) -> Path:
    """Write zeros until the file system is full."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


def _issues(project: Project) -> None:
    project.add_paper("mod", title="Mixture of Depths")
    project.add_paper("raft", title="Verified Raft", venue="OSDI 2025", track="systems",
                      presentation=None)
    project.add_issue(DATE, ["mod", "raft"])
    project.add_issue(NEXT, ["mod", "raft"])


def _set_outbox(project: Project, outbox: Path | str) -> None:
    config = project.root / "newsletter.toml"
    config.write_text(config.read_text().replace(
        "[selection]", f"outbox_dir = \"{outbox}\"\n[selection]", 1))


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _newsletter(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it: a traceback would reach stderr."""
    return subprocess.run([sys.executable, "-m", "newsletter", *args], cwd=project.root,
                          capture_output=True, text=True, timeout=60, check=False)


def _one_line(result: Result | subprocess.CompletedProcess[str], pattern: str) -> str:
    """The command failed with exit code 2 and said why on exactly one line of stderr."""
    code = result.exit_code if isinstance(result, Result) else result.returncode
    assert code == 2, (code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert re.fullmatch(f"error: {pattern}", lines[0]), lines[0]
    return lines[0]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "filler"}


def _leftovers(folder: Path) -> list[str]:
    """Temporary files and staging folders: `.issue.eml.XXXX.tmp`, `.2025-12-05.XXXX/`."""
    return [str(p) for p in folder.rglob("*") if p.name.startswith(".") or
            p.name.endswith(".tmp")]


def test_a_full_disk_is_one_line_and_leaves_nothing_half_written(project: Project) -> None:
    _issues(project)
    outbox = project.root / "outbox"
    with _tmpfs(outbox, "1m"):
        filler = _fill(outbox)
        fresh = _newsletter(project, "compose", "--date", DATE)
        _one_line(fresh, rf"outbox/{DATE}/issue\.\w+: cannot write: No space left on device "
                         r"\(free some disk space\)")
        assert _leftovers(outbox) == [] and not (outbox / DATE).exists()
        filler.unlink()
        assert _newsletter(project, "compose", "--date", DATE).returncode == 0
        before = _snapshot(outbox)
        assert set(before) == {f"{DATE}/issue.{kind}" for kind in ("html", "txt", "eml", "json")}
        _fill(outbox)
        again = _newsletter(project, "compose", "--date", DATE)
        _one_line(again, rf"outbox/{DATE}/issue\.\w+: cannot write: No space left on device "
                         r"\(free some disk space\)")
        assert _snapshot(outbox) == before
        assert _leftovers(outbox) == []
        filler.unlink()
        assert _newsletter(project, "compose", "--date", DATE).returncode == 0


def test_a_full_template_cache_is_not_an_error(project: Project,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _issues(project)
    cache = project.root / "cache"
    with _tmpfs(cache, "64k"):
        (cache / "newsletter").mkdir()
        _fill(cache)
        monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
        result = _run("compose", "--date", DATE)
        assert result.exit_code == 0, result.output
        assert _leftovers(cache) == []
    assert (project.root / "outbox" / DATE / "issue.eml").is_file()


def test_a_damaged_template_cache_is_compiled_again(project: Project,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _issues(project)
    monkeypatch.setenv("XDG_CACHE_HOME", str(project.root / "cache"))
    assert _newsletter(project, "compose", "--date", DATE).returncode == 0
    cached = list((project.root / "cache" / "newsletter").iterdir())
    assert cached
    for path in cached:  # the header stays, the data after it is cut off
        path.write_bytes(path.read_bytes()[:40])
    result = _newsletter(project, "compose", "--date", DATE)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("setting", "in_the_way", "where"), [
    ("outbox", "outbox", "outbox"),
    ("outbox", f"outbox/{DATE}", f"outbox/{DATE}"),
    ("outbox/deeper/still", "outbox", "outbox"),
])
def test_a_file_where_the_outbox_should_be(project: Project, setting: str, in_the_way: str,
                                           where: str) -> None:
    _issues(project)
    _set_outbox(project, setting)
    (project.root / in_the_way).parent.mkdir(parents=True, exist_ok=True)
    (project.root / in_the_way).write_text("not a folder\n")
    result = _run("compose", "--date", DATE)
    _one_line(result, f"{where}: is a file, not a folder "
                      r"\(move the file away or set another folder\)")
    assert (project.root / in_the_way).read_text() == "not a folder\n"
    assert _leftovers(project.root) == []


def test_send_into_a_file_where_the_outbox_should_be(project: Project) -> None:
    prepare_project(project, [("ann@example.org", "Ann", "")])
    (project.root / "outbox").write_text("not a folder\n")
    result = _run("send", "--date", DATE)
    line = _one_line(result, ".*")
    assert "outbox: is a file, not a folder (move the file away or set another folder)" in line
    assert _run("status", "--date", DATE).stdout.startswith(f"{DATE}: 0 sent, 1 pending")


def test_a_read_only_outbox_is_one_line_for_compose(project: Project) -> None:
    _issues(project)
    outbox = project.root / "outbox"
    assert _run("compose", "--date", DATE).exit_code == 0
    before = _snapshot(outbox)
    read_only = r"cannot write: Read-only file system \(remount the file system read-write " \
                r"or choose another folder\)"
    with _read_only(outbox):
        _one_line(_newsletter(project, "compose", "--date", DATE), f"outbox/{DATE}: {read_only}")
        _one_line(_newsletter(project, "compose", "--date", NEXT), f"outbox: {read_only}")
    assert _snapshot(outbox) == before
    assert _leftovers(outbox) == []


@pytest.mark.parametrize("sent_exists", [False, True], ids=["new sent folder", "sent exists"])
def test_a_read_only_outbox_stops_send_at_once(project: Project, sent_exists: bool) -> None:
    """One line and every message still pending, not a retry per message then 'failed'."""
    prepare_project(project, [("ann@example.org", "Ann", ""), ("bob@example.org", "", "")])
    sent = project.root / "outbox" / DATE / "sent"
    (sent if sent_exists else sent.parent).mkdir(parents=True)
    with _read_only(project.root / "outbox"):
        result = _run("send", "--date", DATE)
    line = _one_line(result, ".*")
    assert f"outbox/{DATE}/sent: cannot write: Read-only file system" in line, line
    assert _run("status", "--date", DATE).stdout.startswith(f"{DATE}: 0 sent, 2 pending")
    assert not sent.exists() or list(sent.iterdir()) == []


# Links to folders are followed (see newsletter/content/files.py): the outbox may live on
# another disk. A link that leads nowhere is one line, like a file in the way.

def test_an_outbox_linked_elsewhere_is_written_there(project: Project,
                                                    tmp_path_factory: pytest.TempPathFactory
                                                    ) -> None:
    _issues(project)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (project.root / "outbox").symlink_to(elsewhere, target_is_directory=True)
    for _ in range(2):  # a new dated folder, then the existing one
        assert _run("compose", "--date", DATE).exit_code == 0
        assert (project.root / "outbox").is_symlink()
        assert sorted(p.name for p in (elsewhere / DATE).iterdir()) == \
            ["issue.eml", "issue.html", "issue.json", "issue.txt"]
        assert _leftovers(elsewhere) == []


def test_a_dated_folder_linked_elsewhere_is_written_there(
        project: Project, tmp_path_factory: pytest.TempPathFactory) -> None:
    prepare_project(project, [("ann@example.org", "Ann", "")])
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (project.root / "outbox").mkdir()
    (project.root / "outbox" / DATE).symlink_to(elsewhere, target_is_directory=True)
    assert _run("compose", "--date", DATE).exit_code == 0
    assert _run("send", "--date", DATE).exit_code == 0
    assert (project.root / "outbox" / DATE).is_symlink()
    assert (elsewhere / "issue.html").is_file()
    assert [p.name for p in (elsewhere / "sent").iterdir()] == ["ann@example.org.eml"]
    assert _leftovers(elsewhere) == []


def test_a_linked_file_is_replaced_not_written_through(
        project: Project, tmp_path_factory: pytest.TempPathFactory) -> None:
    _issues(project)
    precious = tmp_path_factory.mktemp("elsewhere") / "notes.html"
    precious.write_text("keep me\n")
    (project.root / "outbox" / DATE).mkdir(parents=True)
    (project.root / "outbox" / DATE / "issue.html").symlink_to(precious)
    assert _run("compose", "--date", DATE).exit_code == 0
    written = project.root / "outbox" / DATE / "issue.html"
    assert not written.is_symlink() and "<html" in written.read_text()
    assert precious.read_text() == "keep me\n"


@pytest.mark.parametrize("link", ["outbox", f"outbox/{DATE}"])
def test_a_link_to_nowhere_is_one_line(project: Project, link: str) -> None:
    _issues(project)
    path = project.root / link
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(project.root / "gone")
    result = _run("compose", "--date", DATE)
    _one_line(result, f"{link}: is a symbolic link to {re.escape(str(project.root))}/gone, "
                      r"which does not exist \(create that folder or remove the link\)")
    assert not (project.root / "gone").exists()


def test_a_link_to_itself_is_one_line(project: Project) -> None:
    _issues(project)
    loop = project.root / "outbox"
    os.symlink(loop, loop)
    result = _newsletter(project, "compose", "--date", DATE)
    _one_line(result, "outbox: is a symbolic link that leads back to itself "
                      r"\(point it at a folder or remove the link\)")
