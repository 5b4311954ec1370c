"""A throwaway PostgreSQL server for tests: initdb and pg_ctl in a temporary folder, on 127.0.0.1."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

__all__ = ["POSTGRES_PASSWORD", "postgres_bin", "running_postgres", "postgres_ctl"]

#: The password of the ``postgres_password_url`` fixture's server: characters a URL must escape.
POSTGRES_PASSWORD = "S3cr@t/pw:%x"

#: URL -> pg_ctl of each server that running_postgres runs, given its action.
_PG_CTL: dict[str, Callable[[str], None]] = {}


def postgres_bin() -> Path | None:
    """The folder of PostgreSQL's server programs: on PATH, else Debian's /usr/lib/postgresql/<version>/bin."""
    for candidate in (shutil.which("pg_ctl"), *sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)):
        if candidate and os.path.exists(os.path.join(os.path.dirname(candidate), "initdb")):
            return Path(candidate).parent
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def running_postgres(password: str | None = None) -> Iterator[str]:
    """The SQLAlchemy URL of a fresh server's ``postgres`` database; the server is removed afterwards.

    PostgreSQL refuses to run as root, so under root the server runs as the ``postgres``
    user (Debian's package creates it), else as ``nobody``. With ``password``, connections
    over TCP must give it (SCRAM), and the URL holds it, percent-encoded.
    """
    binaries = postgres_bin()
    if binaries is None:
        pytest.skip("no PostgreSQL server programs (initdb, pg_ctl): apt-get install postgresql")
    prefix: list[str] = []
    # Outside pytest's 0700 temp folders: the server's user must reach its data folder.
    folder = Path(tempfile.mkdtemp(prefix="mtl-pg-", dir="/tmp"))
    if os.geteuid() == 0:
        user = "postgres" if "postgres" in {entry.pw_name for entry in pwd.getpwall()} else "nobody"
        shutil.chown(folder, user=user)
        prefix = ["runuser", "-u", user, "--"]
    data, port = folder / "data", _free_port()
    run = lambda *command: subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)  # noqa: E731
    authentication = ["--auth=trust"]
    if password is not None:
        password_file = folder / "password"
        password_file.write_text(password + "\n", encoding="utf-8")
        if prefix:  # the server's user reads it
            shutil.chown(password_file, user=prefix[2])
        authentication = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={password_file}"]
    run(str(binaries / "initdb"), "-D", str(data), "-U", "postgres", *authentication, "-E", "UTF8", "--no-sync")
    options = f"-h 127.0.0.1 -p {port} -k {folder} -F"

    def pg_ctl(action: str) -> None:  # start, or stop as a crash would
        flags = ["-o", options, "-l", str(folder / "server.log")] if action == "start" else ["-m", "immediate"]
        run(str(binaries / "pg_ctl"), "-D", str(data), *flags, "-w", action)

    pg_ctl("start")
    credentials = "postgres" if password is None else f"postgres:{urllib.parse.quote(password, safe='')}"
    url = f"postgresql://{credentials}@127.0.0.1:{port}/postgres"
    _PG_CTL[url] = pg_ctl
    try:
        yield url
    finally:
        del _PG_CTL[url]
        pg_ctl("stop")
        shutil.rmtree(folder, ignore_errors=True)


def postgres_ctl(url: str, action: str) -> None:
    """``start`` the server at ``url`` (one of :func:`running_postgres`), or ``stop`` it as a crash
    would, dropping every connection."""
    _PG_CTL[url](action)
