"""Loopback addresses for tests: a port nothing listens on, one that listens and never
answers, and WinRM settings for the stand-in (demo/wsman_stub.py)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from connectors._shared.powershell import WinRmSettings
from demo.wsman_stub import NTLM_USER


def closed_port() -> int:
    """A loopback port free a moment ago: a connection to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (kernel backlog) and never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


def stub_winrm(endpoint: str, ca_file: str) -> WinRmSettings:
    """CredSSP over HTTPS to the stand-in (a transport that makes the second hops PAM and a
    remote MIM Service need), with short timeouts."""
    return WinRmSettings(
        endpoint, *NTLM_USER, "credssp", ca_file=Path(ca_file), operation_timeout=1, read_timeout=3
    )
