"""The bot keeps no copy of an access package, even when it is killed mid-export: the
package is built in memory, and the folders older versions left on disk are removed
when the bot starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from bot.workflow.export_package import remove_stale_folders
from tests.support.paths import REPO as ROOT

# An export whose delivery never ends: the process is killed while the package exists.
EXPORT = textwrap.dedent(
    """
    import sys, threading
    from bot.workflow.access import AccessService
    from bot.audit import AuditLog, SubjectKeyer
    from bot.config import PolicyConfig
    from bot.database import create_engine, migrate
    from bot.permissions.roles import Actor, Role
    from bot.lookup.search import SearchService
    from bot.lookup.show import ShowService
    from bot.workflow.store import RequestStore
    from connectors.base import IdKind, Query, QueryKind
    from connectors.memory import MemoryConnector, Person
    from tests.support.keys import CHAIN_KEY

    class Stuck:
        def progress(self, user_id, answered): pass
        def finished(self, user_id): pass
        def send_password(self, user_id, request_id, password): pass
        def send(self, user_id, request_id, package):
            print("sending", flush=True)
            threading.Event().wait()  # an upload that hangs until the kill

    engine = create_engine(f"sqlite:///{sys.argv[1]}")
    migrate(engine)
    jane = {IdKind.ACCOUNT: "jdoe", IdKind.DISPLAY_NAME: "Jane Doe"}
    hr = MemoryConnector("hr", "HR", [Person("1", jane, {"birth_date": ("1980-05-17",)})])
    audit = AuditLog(engine, chain_key=CHAIN_KEY)
    keyer = SubjectKeyer("test-subject-key-0123456789")
    search = SearchService([hr], audit=audit, keyer=keyer, timeout=2)
    access = AccessService(
        store=RequestStore(engine, audit=audit),
        show=ShowService(search=search, connectors={"hr": hr}, audit=audit),
        keyer=keyer,
        sender=Stuck(),
        policy=PolicyConfig(export_encrypt=sys.argv[2] == "encrypt"),
    )
    access.export(Query(QueryKind.NAME, "jdoe"), actor=Actor("UEXP", frozenset({Role.EXPORTER})))
    """
)


@pytest.mark.parametrize("mode", ["plain", "encrypt"])
def test_a_kill_during_an_export_leaves_nothing_in_the_temporary_directory(tmp_path, mode):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", EXPORT, str(tmp_path / "bot.db"), mode],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The export is inside its delivery, the package built, when it says so.
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()))
        reader.start()
        reader.join(timeout=60)
        assert line == ["sending\n"], proc.stderr.read() if proc.poll() is not None else line
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert list(scratch.rglob("*")) == []  # no folder, no zip, no plaintext


def test_folders_an_older_version_left_are_removed_at_start(tmp_path):
    left = tmp_path / "mimbot-export-5qce5768"
    left.mkdir(mode=0o700)
    (left / "REQ-2026-0001.zip").write_bytes(b"PK\x03\x04 plaintext")
    other = tmp_path / "mimbot-demo-x"  # not an export's: kept
    other.mkdir()
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep.txt").write_text("kept")
    (tmp_path / "mimbot-export-link").symlink_to(target)  # never followed
    (tmp_path / "mimbot-export-file").write_text("not a folder")
    assert remove_stale_folders(tmp_path) == 1
    assert not left.exists() and other.exists()
    assert (target / "keep.txt").read_text() == "kept"
    assert (tmp_path / "mimbot-export-link").is_symlink()
    assert (tmp_path / "mimbot-export-file").exists()


def test_the_access_service_sweeps_the_temporary_directory_when_built(tmp_path):
    scratch = tmp_path / "tmp"
    (scratch / "mimbot-export-abc").mkdir(parents=True)
    (scratch / "mimbot-export-abc" / "REQ-2026-0001.zip").write_bytes(b"PK")
    script = textwrap.dedent(
        """
        from bot.workflow.access import AccessService
        from bot.config import PolicyConfig
        AccessService(store=None, show=None, keyer=None, sender=None, policy=PolicyConfig())
        """
    )
    env = {**os.environ, "TMPDIR": str(scratch), "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=60)
    assert list(scratch.iterdir()) == []
