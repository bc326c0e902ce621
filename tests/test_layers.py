"""The house's layout, pinned: imports run one way, and only the render layer writes
Slack markup.

    the demo (python -m demo)  →  front ends (bot/frontends, bot/__main__)  →  handlers/
        →  render (bot/render)
        →  domain (bot/*.py, bot/workflow/store)  →  connectors/
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# layer -> the layers (and Slack libraries) it may import; a layer may import itself.
ALLOWED = {
    "connectors": set(),
    "domain": {"connectors"},
    "render": {"domain", "connectors", "slack_sdk"},
    "handlers": {"render", "domain", "connectors"},
    "frontends": {"handlers", "render", "domain", "connectors", "slack_sdk", "slack_bolt"},
    # The demo is a front end of its own (`python -m demo`): the bot never imports it.
    "demo": {"frontends", "handlers", "render", "domain", "connectors"},
}
SLACK = {"slack_sdk", "slack_bolt"}


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    top = parts[0]
    if top in ("connectors", "handlers", "demo"):
        return top
    if top in SLACK:
        return top
    if top != "bot":
        return None  # the standard library and other third-party packages
    if len(parts) > 1 and parts[1] in ("frontends", "__main__"):
        return "frontends"
    if len(parts) > 1 and parts[1] == "render":
        return "render"
    return "domain"


def modules() -> list[tuple[str, Path]]:
    out = []
    for package in ("bot", "handlers", "connectors", "demo"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            name = ".".join(p for p in rel.parts if p != "__init__")
            out.append((name, path))
    return out


def imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from bot import render` imports the module bot.render
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


def wrong_imports(name: str, path: Path) -> list[str]:
    here = layer_of(name)
    assert here is not None
    wrong = []
    for line, target in imports(path):
        there = layer_of(target)
        if there is None or there == here or there in ALLOWED[here]:
            continue
        where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        wrong.append(f"{where}:{line} ({here}) imports {target} ({there})")
    return wrong


@pytest.mark.parametrize(("name", "path"), modules(), ids=lambda v: str(v))
def test_imports_run_one_way(name: str, path: Path) -> None:
    assert wrong_imports(name, path) == []


def test_an_import_running_back_is_caught(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text(
        "from bot import render\nfrom bot.frontends.dispatch import run_command\n"
        "import slack_sdk\nfrom handlers import HANDLERS\n"
    )
    assert len(wrong_imports("bot.workflow.erasure", tmp_path / "x.py")) == 4  # a domain module
    assert len(wrong_imports("handlers.find", tmp_path / "x.py")) == 2  # frontends, slack_sdk


# Slack's markup: mentions and channel pings (<@U…>, <!here>), links (<http…|x>),
# *bold*, `code` and :emoji: codes.
MARKUP = re.compile(
    r"<[@!#]|<https?:|(?<![\w*])\*[A-Za-z][^*\n]*\*(?![\w*])|`[^`\n]+`|(?<!\w):[a-z0-9_+-]+:(?!\w)"
)
# What may write it: the render layer. The terminal front ends print, they do not post.
MAY_WRITE_MARKUP = ("bot/render/", "bot/frontends/cli.py", "bot/frontends/console.py")


def string_literals(path: Path) -> list[tuple[int, str]]:
    """Every string constant but docstrings and regular expressions."""
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            skip.add(id(body[0].value))  # a docstring
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "compile":
            skip.update(id(a) for a in node.args)  # re.compile(...)
    found = [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    ]
    # An f-string as a whole: f"*{role}*" is markup though no piece of it is.
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values)
            found.append((node.lineno, text))
    return found


def test_only_the_render_layer_writes_slack_markup() -> None:
    found = []
    for package in ("bot", "handlers", "connectors"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(MAY_WRITE_MARKUP) or "/migrations/" in rel:
                continue
            found += [
                f"{rel}:{n}: {s[:60]!r}" for n, s in string_literals(path) if MARKUP.search(s)
            ]
    assert found == []


def test_the_markup_check_sees_markup() -> None:
    # The check above must be able to fail: each form of markup is caught.
    for sample in ("Approved by <@U1>", "<!channel>", "<https://x|y>", "the *approver* role",
                   "try `help`", ":warning: down"):  # fmt: skip
        assert MARKUP.search(sample), sample
    for plain in ("REQ-2026-0001", "user@example.test", "10:30", "a*"):
        assert not MARKUP.search(plain), plain


def test_the_markup_check_sees_markup_around_placeholders(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text('role = "x"\ntext = f"needs the *{role}* role, try `{role}`"\n')
    texts = [t for _, t in string_literals(tmp_path / "m.py")]
    assert any(MARKUP.search(t) for t in texts)


def test_packages_declare_what_they_export() -> None:
    import bot
    import bot.render
    import bot.workflow.store
    import connectors

    for package in (bot, bot.render, bot.workflow.store, connectors):
        assert package.__all__, package.__name__
        for name in package.__all__:
            assert getattr(package, name) is not None, f"{package.__name__}.{name}"
