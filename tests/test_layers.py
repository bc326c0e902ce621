"""The house's layout, pinned: which folder may import which, no circle of files, no
connector chosen by name, and only the render layer writes Slack markup.

    the demo (python -m demo)  →  front ends (bot/frontends, bot/__main__)  →  handlers/
        →  render (bot/render)
        →  domain (bot/lookup, bot/workflow, bot/ops, bot/permissions, bot/commands,
                   bot/audit, bot/config, bot/*.py)  →  connectors/

Inside connectors/ the contract (connectors/*.py) is what everyone else sees; each
system's package (connectors/<system>/) imports the contract and the shared plumbing
(connectors/_shared/), never another system, and nothing in bot/ or handlers/ imports a
system's package or the plumbing: the bot reaches a system through its spec
(connectors/spec.py) and the contract only.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable, Mapping
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

# Inside the domain: folder -> the domain folders it may import, besides itself and the
# modules every folder may use (bot/errors.py, bot/logs.py). bot/services.py wires them
# all together and bot/database.py is the bot's own database: both may import any.
DOMAIN = {
    "bot.audit": set(),
    "bot.commands": {"bot.permissions"},  # each verb's default roles
    "bot.config": {"bot.commands"},  # app.yaml's permissions: name verbs
    "bot.permissions": {"bot.commands", "bot.workflow"},  # the policy, per verb and request
    "bot.lookup": {"bot.audit", "bot.permissions"},  # beneath the workflow
    "bot.workflow": {"bot.audit", "bot.config", "bot.lookup", "bot.permissions"},
    "bot.ops": {"bot.audit", "bot.lookup", "bot.permissions", "bot.workflow"},
}
EVERYONE = {"bot.errors", "bot.logs", "bot"}
WIRING = {"bot.services", "bot.database"}


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


def folder_of(module: str) -> str:
    """bot.workflow.store.steps -> bot.workflow; bot.errors -> bot.errors."""
    return ".".join(module.split(".")[:2])


def modules() -> list[tuple[str, Path]]:
    out = []
    for package in ("bot", "handlers", "connectors", "demo"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            name = ".".join(p for p in rel.parts if p != "__init__")
            out.append((name, path))
    return out


def imports(path: Path) -> list[tuple[int, str]]:
    """Every import, TYPE_CHECKING ones too (a circle of types is still a circle)."""
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
        why = None
        if there is not None and there != here and there not in ALLOWED[here]:
            why = f"({here}) imports {target} ({there})"
        elif here == "domain" and there == "domain":
            why = _wrong_in_domain(name, target)
        elif there == "connectors":
            why = _wrong_in_connectors(name, target)
        if why:
            where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
            wrong.append(f"{where}:{line} {why}")
    return wrong


def _wrong_in_domain(name: str, target: str) -> str | None:
    here, there = folder_of(name), folder_of(target)
    if here == there or there in EVERYONE or here in WIRING or here in EVERYONE:
        return None
    if there in DOMAIN.get(here, set()):
        return None
    return f"({here}) imports {target} ({there})"


def _system_of(module: str) -> str | None:
    """connectors.ad.update -> "ad"; a contract module or the plumbing -> None."""
    parts = module.split(".")
    if len(parts) > 1 and (ROOT / "connectors" / parts[1]).is_dir() and parts[1] != "_shared":
        return parts[1]
    return None


def _wrong_in_connectors(name: str, target: str) -> str | None:
    system, plumbing = _system_of(target), target.startswith("connectors._shared")
    if name.startswith("demo.") or not (system or plumbing):
        return None  # the contract is for everyone; the demo's stand-ins build systems
    if not name.startswith("connectors."):
        return f"imports {target}: outside connectors/, only the contract and the specs"
    if system and _system_of(name) not in (system, None):
        return f"imports {target}: a system's package never imports another's"
    if system and _system_of(name) is None and name != "connectors.spec":
        return f"imports {target}: the contract never imports a system"
    return None


@pytest.mark.parametrize(("name", "path"), modules(), ids=lambda v: str(v))
def test_imports_run_one_way(name: str, path: Path) -> None:
    assert wrong_imports(name, path) == []


def test_an_import_running_back_is_caught(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text(
        "from bot import render\nfrom bot.frontends.dispatch import run_command\n"
        "import slack_sdk\nfrom handlers import HANDLERS\n"
    )
    assert len(wrong_imports("bot.workflow.erasure", tmp_path / "x.py")) == 4  # domain
    assert len(wrong_imports("handlers.find", tmp_path / "x.py")) == 2  # frontends, slack_sdk


def test_an_import_across_folders_or_systems_is_caught(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text(
        "from bot.workflow.requests import Request\nfrom bot.ops.health import Readiness\n"
        "from connectors.ad.settings import AdSettings\nfrom connectors._shared.sql import x\n"
    )
    wrong = wrong_imports("bot.lookup.search", tmp_path / "x.py")
    assert [w.split(" ", 1)[1] for w in wrong] == [
        "(bot.lookup) imports bot.workflow.requests.Request (bot.workflow)",
        "(bot.lookup) imports bot.ops.health.Readiness (bot.ops)",
        "imports connectors.ad.settings.AdSettings: outside connectors/, only the contract "
        "and the specs",
        "imports connectors._shared.sql.x: outside connectors/, only the contract and the specs",
    ]
    from_bhold = wrong_imports("connectors.bhold.connector", tmp_path / "x.py")
    from_ad = wrong_imports("connectors.ad.update", tmp_path / "x.py")
    assert [w for w in from_bhold if w not in from_ad] == [
        f"{tmp_path / 'x.py'}:3 imports connectors.ad.settings.AdSettings: a system's package "
        "never imports another's"
    ]
    assert len(from_ad) == 2  # the two bot imports: connectors never import bot/


# -- no circle of files ------------------------------------------------------------


def circles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in list(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def import_graph() -> dict[str, set[str]]:
    """module -> the modules of ours it imports (a package's own children left out: an
    `__init__` re-exporting its modules is how a package shows what it holds)."""
    known = {name: path for name, path in modules() if "migrations" not in name}
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        targets = set()
        for _, target in imports(path):
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and not target.startswith(name + "."):
                targets.add(target)
        graph[name] = targets
    return graph


def test_no_circle_of_files() -> None:
    assert circles(import_graph()) == []


def test_the_circle_check_sees_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert circles(graph) == [["a", "b", "c"]]


# -- no connector chosen by name ---------------------------------------------------


def test_no_connector_is_chosen_by_name_in_bot_or_handlers() -> None:
    from connectors.spec import specs

    names = {spec.name for spec in specs()}
    assert names >= {"ad", "mimsync", "mimservice", "pam", "bhold", "certmgmt", "hr"}
    found = []
    for package in ("bot", "handlers"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if "/migrations/" in path.as_posix():
                continue
            found += [
                f"{path.relative_to(ROOT)}:{n}: {s!r}"
                for n, s in string_literals(path)
                if s in names
            ]
    assert found == []


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
