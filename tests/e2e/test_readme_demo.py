"""The README's demo session, run as the README shows it.

README.md holds the demo as one fenced block (its first line `# mimbot demo session`):
one command a line, as a reader types them and as `python -m demo --script FILE`
runs them (lines starting with `#` are skipped). The block is read from the README each
time, written to a file unchanged and run in a process of its own, so the README and
the test cannot drift apart. Two comments say what a line must do:

    # refused: <words>     the next line is refused, and the refusal says <words>
    # shows: <words>       the next line's output says <words>

Any other refusal, a "went wrong" reply or an error logged fails the test. A refusal
is recognised by the bot's own messages (tests/support/refusals.py); the last test
checks that this sees the refusals a session of wrong commands provokes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from demo.estate import DEMO_ADMIN, demo_config
from tests.support.paths import REPO as ROOT
from tests.support.refusals import refusals

README = ROOT / "README.md"
MARK = "# mimbot demo session"
_FENCE = re.compile(r"^```")
_AS = re.compile(r"^as\s+([UW][A-Z0-9]+)\s+(.*)$")  # as the console reads `as USER cmd`
_HEADER = re.compile(r"^\[([UW][A-Z0-9]+)\] /mim (.*)$")  # the console's echo of a command
_EXTRA = "(demo) "  # how the console shows a demo-only action (`sync`, `later`)
DEMO_ACTIONS = {"sync", "later", "cm-retire"}  # demo/__main__.py
_LOGGED = re.compile(r"^\S+ \S+ (ERROR|CRITICAL) ")  # bot/logs.py's format
_BROKEN = ("went wrong", "Traceback")


@dataclass
class Line:
    """One command of the block, where the README has it, and what it promises."""

    number: int  # line in README.md
    command: str
    refused: str | None = None
    shows: list[str] = field(default_factory=list)

    @property
    def caller(self) -> str:
        m = _AS.match(self.command)
        return m.group(1) if m else DEMO_ADMIN

    @property
    def text(self) -> str:
        m = _AS.match(self.command)
        return m.group(2) if m else self.command

    def __str__(self) -> str:
        return f"README.md:{self.number} `{self.command}`"


def demo_block(readme: str) -> tuple[int, list[str]]:
    """The one fenced block that opens with MARK: its first line's number and its lines."""
    found, lines = [], readme.splitlines()
    inside = None
    for i, line in enumerate(lines, 1):
        if _FENCE.match(line):
            if inside is None:
                inside = i
            else:
                if lines[inside : inside + 1] == [MARK]:
                    found.append((inside + 1, lines[inside : i - 1]))
                inside = None
    assert len(found) == 1, f"README.md needs one fenced block opening with {MARK!r}"
    return found[0]


def parse(first: int, block: list[str]) -> list[Line]:
    commands: list[Line] = []
    pending = Line(0, "")
    for number, raw in enumerate(block, first):
        text = raw.strip()
        if text.startswith("# refused:"):
            assert pending.refused is None, f"README.md:{number}: two refusals for one line"
            pending.refused = text.removeprefix("# refused:").strip()
        elif text.startswith("# shows:"):
            pending.shows.append(text.removeprefix("# shows:").strip())
        elif text and not text.startswith("#"):
            pending.number, pending.command = number, text
            commands.append(pending)
            pending = Line(0, "")
    assert pending.refused is None and not pending.shows, "a promise after the last line"
    return commands


@dataclass
class Session:
    lines: list[Line]
    segments: list[list[str]]  # each command's output, in order
    returncode: int
    stdout: str
    stderr: str


def run_demo(script: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    path = tmp / "demo-script.txt"
    path.write_text(script, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "demo", "--script", str(path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


def segments(stdout: str) -> list[list[str]]:
    """The output cut at each echoed command or demo action (the banner dropped)."""
    cut: list[list[str]] = []
    for line in stdout.splitlines():
        if _HEADER.match(line) or line.startswith(_EXTRA):
            cut.append([])
        if cut:
            cut[-1].append(line)
    return cut


def start_session(script: str, lines: list[Line], tmp: Path) -> Session:
    done = run_demo(script, tmp)
    return Session(lines, segments(done.stdout), done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def readme_lines() -> tuple[str, list[Line]]:
    first, block = demo_block(README.read_text(encoding="utf-8"))
    return "\n".join(block) + "\n", parse(first, block)


@pytest.fixture(scope="module")
def session(readme_lines, tmp_path_factory) -> Session:
    script, lines = readme_lines
    return start_session(script, lines, tmp_path_factory.mktemp("readme-demo"))


def _shown(session: Session) -> str:
    return f"\n--- stdout ---\n{session.stdout[-6000:]}\n--- stderr ---\n{session.stderr[-4000:]}"


def test_every_line_of_the_readme_demo_runs_in_order(session):
    assert session.returncode == 0, _shown(session)
    assert len(session.segments) == len(session.lines), _shown(session)
    for line, out in zip(session.lines, session.segments, strict=True):
        header = _HEADER.match(out[0])
        if header:
            assert (header.group(1), header.group(2)) == (line.caller, line.text), line
        else:  # a demo-only action (`sync`, `later`, `cm-retire jdoe`) echoes what it did
            assert line.text.split()[0] in DEMO_ACTIONS, f"{line}: the demo answered {out[0]!r}"
    assert session.stdout.rstrip().splitlines()[-1].startswith("audit chain: OK"), _shown(session)


def test_nothing_goes_wrong_in_the_readme_demo(session):
    problems = [
        f"{line}: {text}"
        for line, out in zip(session.lines, session.segments, strict=False)
        for text in out
        if any(word in text for word in _BROKEN)
    ]
    logged = [x for x in session.stderr.splitlines() if _LOGGED.match(x) or "Traceback" in x]
    assert not problems and not logged, "\n".join(problems + logged) + _shown(session)


def test_only_the_refusals_the_readme_promises_and_each_of_them(session):
    problems = []
    for line, out in zip(session.lines, session.segments, strict=False):
        said = refusals(out[1:])
        if line.refused is None:
            problems += [f"{line}: refused, unpromised: {text!r} ({where})" for text, where in said]
        elif not any(line.refused in text for text, _ in said):
            problems.append(f"{line}: promised refused: {line.refused!r}; got {out[1:]!r}")
    assert not problems, "\n".join(problems)
    assert any(line.refused for line in session.lines)  # the README shows refusals


def test_each_line_shows_what_the_readme_says(session):
    problems = [
        f"{line}: does not show {words!r}"
        for line, out in zip(session.lines, session.segments, strict=False)
        for words in line.shows
        if words not in "\n".join(out)
    ]
    assert not problems, "\n".join(problems) + _shown(session)


def test_the_demo_asks_help_as_every_demo_user(readme_lines, tmp_path):
    _, lines = readme_lines
    users = {u for members in demo_config(tmp_path).roles.values() for u in members.users}
    asked = {line.caller for line in lines if line.text == "help"}
    assert users <= asked, f"no `help` in the README's demo as {sorted(users - asked)}"


# A session of mistakes, each line with whether the bot refuses it.
WRONG = [
    ("as UDEMOVIEW delete sobrien", True),  # a role the caller lacks
    ("delete Zo*", True),  # a usage error
    ("frobnicate", True),
    ("status REQ-2026-0009", True),  # no such request
    ("delete sobrien gone", False),  # REQ-2026-0001
    ("approve REQ-2026-0001", True),  # the admin decides nothing
    ("as UDEMOHR done REQ-2026-0001 1", True),  # no manual step
    ("as UDEMOAPPROVER reject REQ-2026-0001", True),  # no reason
    ("as UDEMOAPPROVER approve REQ-2026-0001", False),
    ("as UDEMOAPPROVER approve REQ-2026-0001", True),  # already decided
    ("as UDEMOAPPROVER retry REQ-2026-0001", True),  # not failed
    ("delete nobodyatall", True),  # nobody
    ("update sobrien title=Dr moved desk", True),  # ambiguous
    ("retention now", True),
    ("as UDEMOVIEW telemetry", True),
]


def test_a_session_of_wrong_commands_is_seen_refused_line_by_line(tmp_path):
    """The refusal check can fail: it sees each refusal here, and not the lines that work."""
    lines = [Line(n, text) for n, (text, _) in enumerate(WRONG, 1)]
    script = "".join(f"{text}\n" for text, _ in WRONG)
    session = start_session(script, lines, tmp_path)
    assert len(session.segments) == len(lines), _shown(session)
    seen = [
        (line.command, bool(refusals(out[1:])))
        for line, out in zip(lines, session.segments, strict=True)
    ]
    assert seen == WRONG, _shown(session)
