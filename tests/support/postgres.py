"""A throwaway PostgreSQL server on loopback, for tests and benchmarks.

initdb refuses to run as root, so the cluster is owned by the `postgres` user
(created by Debian's postgresql package). `fsync=off`: tests only.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

START = ("-w", "start", "-o")  # wait until it accepts connections
PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin")


def _pg_bin() -> Path:
    for candidate in PG_BIN_CANDIDATES:
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(args: list[str]) -> list[str]:
    return args if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *args]


@contextmanager
def postgres_server(*, durable: bool = False) -> Iterator[str]:
    """Start a cluster on a free loopback port; yield its admin SQLAlchemy URL; stop it.
    `durable`: commits are flushed to disk, as in production (benchmarks)."""
    url = os.environ.get("MIMBOT_TEST_POSTGRES_URL")
    if url:  # an already running server, e.g. a developer's own
        yield url
        return
    bin_dir = _pg_bin()
    root = Path(tempfile.mkdtemp(prefix="mimbot-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    port = _free_port()
    subprocess.run(
        _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
    options += "" if durable else " -c fsync=off"
    subprocess.run(
        _as_postgres(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), *START, options]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "stop", "-m", "immediate"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(admin_url: str) -> str:
    """Create an empty database on the server and return its URL (test isolation)."""
    name = "t_" + uuid.uuid4().hex[:12]
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))  # name is generated, not user input
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


@contextmanager
def frozen(url: str) -> Iterator[None]:
    """The server behind `url` stopped dead (SIGSTOP on the postmaster and every backend),
    as a hung host or a VM paused by its hypervisor; thawed on exit."""
    port = sa.make_url(url).port
    postmaster = next(
        pid
        for pid, cmd in _processes()
        if cmd and Path(cmd[0]).name == "postgres" and f"-p {port}" in " ".join(cmd)
    )
    pids = [postmaster, *(pid for pid, _ in _processes() if _parent(pid) == postmaster)]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def _processes() -> Iterator[tuple[int, list[str]]]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            yield int(entry.name), [p.decode(errors="replace") for p in raw.split(b"\0") if p]


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])
