"""A throwaway PostgreSQL server for the tests and CI: initdb, pg_ctl start, pg_ctl stop.

`PostgresServer().start()` runs ``initdb`` into a new temporary folder and starts the
server with ``pg_ctl``, listening on 127.0.0.1 on a free port (and on a Unix socket inside
that folder), never on another interface. Run as root (tests and CI are), every server
program runs as the unprivileged ``postgres`` system user through ``runuser``, on a folder
chowned to it; run as anyone else, as that user. A server that cannot start raises
RuntimeError with the end of its log: the tests fail, they never skip.

Connections over TCP need a password (scram-sha-256), like a real server: the role
``newsletter`` has one, written to a libpq password file (``pgpass`` in the folder), and
`env()` gives ``PGPASSFILE`` for it, so the URLs the server hands out hold no password.
The superuser reaches the server only through the Unix socket, for set-up.

For pytest: the `postgres_server` fixture (one server for the whole session, stopped at its
end, pass or fail) and `postgres_url` (a new empty database for each test). Import them into
a test module (or conftest.py) by their function names:
``from support.postgres import postgres_fixtures, postgres_url_fixture  # noqa: F401``.

For a shell (CI, benchmarks): ``eval "$(python -m tests.support.postgres start)"`` starts a
server and prints ``export`` lines (NEWSLETTER_TEST_POSTGRES_FOLDER, PGPASSFILE and
NEWSLETTER_TEST_DATABASE_URL, an empty database ``newsletter``);
``python -m tests.support.postgres stop "$NEWSLETTER_TEST_POSTGRES_FOLDER"`` stops it and
removes the folder.
"""

from __future__ import annotations

import argparse
import atexit
import itertools
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from unittest.mock import patch

import pytest

USER = "newsletter"  # the role tests connect as
SYSTEM_USER = "postgres"  # who runs the server when we are root
SETTINGS = """
listen_addresses = '127.0.0.1'
unix_socket_directories = '{socket}'
unix_socket_permissions = 0700
max_connections = 60
log_min_messages = warning
log_connections = off
"""
# A throwaway cluster need not survive a power loss; a durable one is for benchmarks.
FAST = "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"


def find_bindir() -> Path:
    """Where initdb and pg_ctl are: $NEWSLETTER_PG_BINDIR, PATH, or Debian's newest version."""
    given = os.environ.get("NEWSLETTER_PG_BINDIR")
    if given:
        return Path(given)
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                      key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0)
    if not versions:
        raise RuntimeError("PostgreSQL is not installed: no pg_ctl on PATH or in "
                           "/usr/lib/postgresql/*/bin (apt-get install postgresql)")
    return versions[-1].parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """One PostgreSQL cluster in its own folder (made here unless `folder` already holds one)."""

    def __init__(self, folder: Path | None = None, *, durable: bool = False) -> None:
        self.folder = folder or Path(tempfile.mkdtemp(prefix="newsletter-pg-"))
        self.durable = durable
        self.bindir = find_bindir()
        self.data = self.folder / "data"
        self.socket_dir = self.folder / "socket"
        self.log = self.folder / "server.log"
        self.passfile = self.folder / "pgpass"
        self.port = int((self.folder / "port").read_text()) if \
            (self.folder / "port").exists() else 0
        self._names = itertools.count(1)
        self._lock = threading.Lock()

    # -- running the server's programs ------------------------------------------------------

    def _as_owner(self, *command: str | Path) -> list[str]:
        program = [str(self.bindir / str(command[0])), *map(str, command[1:])]
        if os.geteuid() == 0:
            return ["runuser", "-u", SYSTEM_USER, "--", *program]
        return program

    def _run(self, *command: str | Path, timeout: float = 120) -> None:
        try:
            done = subprocess.run(self._as_owner(*command), stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=timeout, check=False)
        except FileNotFoundError as exc:
            raise RuntimeError(f"{command[0]} cannot run: {exc}") from exc
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed (exit {done.returncode}): "
                               f"{done.stderr.strip() or done.stdout.strip()}{self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()[-20:]
        except OSError:
            return ""
        return "\nserver log:\n" + "\n".join(lines) if lines else ""

    def _give_to_owner(self, path: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, SYSTEM_USER, SYSTEM_USER)

    # -- life cycle -----------------------------------------------------------------------------

    def start(self) -> PostgresServer:
        """initdb (the first time) and start; RuntimeError with the server's log if it cannot."""
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        for attempt in range(3):  # a free port can be taken by someone else before we bind it
            self.port = free_port()
            try:
                self._run("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60",
                          "-o", f"-p {self.port}", "start")
                break
            except RuntimeError:
                if attempt == 2 or "could not bind" not in self._log_tail():
                    raise
        (self.folder / "port").write_text(str(self.port))
        self._create_role()
        return self

    def _initdb(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        for path in (self.folder, self.socket_dir):
            path.chmod(0o700)
            self._give_to_owner(path)
        self._run("initdb", "-D", self.data, "-U", "postgres", "-E", "UTF8",
                  "--locale=C.UTF-8", "--auth-local=trust", "--auth-host=scram-sha-256",
                  "--no-sync", "--no-instructions")
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(SETTINGS.format(socket=self.socket_dir))
            if not self.durable:
                conf.write(FAST)

    def _create_role(self) -> None:
        password = secrets.token_urlsafe(24)
        with self.admin() as db:
            exists = db.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (USER,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            # Password literals cannot be parameters; this one is URL-safe base64.
            db.execute(f"{verb} ROLE {USER} LOGIN CREATEDB PASSWORD '{password}'")
        self.passfile.write_text(f"127.0.0.1:{self.port}:*:{USER}:{password}\n")
        self.passfile.chmod(0o600)

    def stop(self) -> None:
        """Stop the server (fast, then immediate, then by its pid) and remove the folder."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._stop_server()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _stop_server(self) -> None:
        for mode in ("fast", "immediate"):
            try:
                self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "30", "stop",
                          timeout=60)
                return
            except (RuntimeError, subprocess.TimeoutExpired):
                continue
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():  # the postmaster we started, by the pid it wrote
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)

    # -- what tests use -------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The environment a client needs besides the URL: libpq's password file."""
        return {"PGPASSFILE": str(self.passfile)}

    def url(self, database: str = "newsletter") -> str:
        """A URL of `database` for the role `newsletter`, without a password."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def admin(self):  # -> psycopg.Connection (psycopg is imported only when a server is used)
        """A superuser connection over the Unix socket, in autocommit mode."""
        import psycopg

        return psycopg.connect(host=str(self.socket_dir), port=self.port, user="postgres",
                               dbname="postgres", autocommit=True)

    def create_database(self, name: str | None = None) -> str:
        """A new empty database owned by `newsletter`; its URL."""
        name = name or self._new_name()
        with self.admin() as db:
            db.execute(f'CREATE DATABASE "{name}" OWNER {USER}')
        return self.url(name)

    def create_schema(self, database: str = "newsletter") -> str:
        """The URL of a new empty schema in `database` (made if missing), as its search_path.

        A schema takes milliseconds where a database takes a fifth of a second: each test
        gets its own. (Advisory locks are per database: tests of them run one at a time.)
        """
        import psycopg

        name = self._new_name()
        with self.admin() as db:
            if not db.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                              (database,)).fetchone():
                db.execute(f'CREATE DATABASE "{database}" OWNER {USER}')
        with psycopg.connect(host=str(self.socket_dir), port=self.port, user="postgres",
                             dbname=database, autocommit=True) as db:
            db.execute(f"CREATE SCHEMA {name} AUTHORIZATION {USER}")
        return f"{self.url(database)}?options=-csearch_path%3D{name}"

    def _new_name(self) -> str:
        with self._lock:
            return f"test_{os.getpid()}_{next(self._names)}"

    def password(self) -> str:
        """The password of `newsletter` (for the tests of where passwords come from)."""
        return self.passfile.read_text().strip().rsplit(":", 1)[1]


# -- pytest: one server per session, however many modules import the fixtures ----------------

_shared: PostgresServer | None = None
_users = 0
_shared_lock = threading.Lock()


def _acquire() -> PostgresServer:
    global _shared, _users
    with _shared_lock:
        if _shared is None:
            server = PostgresServer()
            try:
                server.start()
            except BaseException:
                server.stop()
                raise
            _shared = server
            atexit.register(_stop_at_exit)  # should the session end without its teardown
        _users += 1
        return _shared


def _release() -> None:
    global _shared, _users
    with _shared_lock:
        _users -= 1
        if _users == 0 and _shared is not None:
            _shared.stop()
            _shared = None


def _stop_at_exit() -> None:
    if _shared is not None:
        _shared.stop()


@pytest.fixture(scope="session", name="postgres_server")
def postgres_fixtures() -> Iterator[PostgresServer]:
    """The session's server, with PGPASSFILE set for libpq; stopped at the end of the session."""
    server = _acquire()
    try:
        with patch.dict(os.environ, server.env()):
            yield server
    finally:
        _release()


@pytest.fixture(name="postgres_url")
def postgres_url_fixture(postgres_server: PostgresServer) -> str:
    """A new, empty database (a schema of its own) for one test."""
    return postgres_server.create_schema()


# -- the shell ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.postgres",
                                     description="A throwaway PostgreSQL server on 127.0.0.1.")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start one; prints export lines for eval")
    start.add_argument("folder", nargs="?", type=Path, help="default: a new temporary folder")
    start.add_argument("--durable", action="store_true", help="keep fsync on (benchmarks)")
    stop = commands.add_parser("stop", help="stop it and remove its folder")
    stop.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    if args.command == "stop":
        PostgresServer(args.folder).stop()
        return 0
    server = PostgresServer(args.folder, durable=args.durable)
    try:
        server.start()
        url = server.create_database("newsletter")
    except BaseException:
        server.stop()
        raise
    for name, value in {"NEWSLETTER_TEST_POSTGRES_FOLDER": str(server.folder), **server.env(),
                        "NEWSLETTER_TEST_DATABASE_URL": url}.items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
