"""What a refusal reads like, taken from the product's own source.

Every refusal the bot gives is the text of a `MimbotError` (or a subclass) raised in
`bot/` or `handlers/`, a text passed straight to `render.error(...)`, or a policy rule's
`refusal=` words (bot/permissions/authz.py). This module
reads those texts from the source (the literal parts of each message; an f-string's
fields match anything), so a test can tell a refusal in plain console output without
a hand-kept list going stale when a message is reworded or added.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("bot", "handlers")
BASE = "MimbotError"
NOT_REPLIES = "ConfigError"
# A message line whose literal text is shorter than this is matched as a whole line only
# (fields then stand for one word each): "{request_id} is {status}." would otherwise match
# any line with " is " in it.
MIN_LITERAL = 12
_FIELD = "\x00"  # stands for an f-string field while a template is being built
_FORMAT_FIELD = re.compile(r"\{[^{}]*\}")  # a str.format field, "{seq}"
USAGE = re.compile(r"^Usage: `")  # how render.error shows a UsageError's usage line


@dataclass(frozen=True)
class Template:
    pattern: re.Pattern[str]
    where: str  # "bot/workflow/erasure.py:123", for a failure message


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*.py")):
            yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _subclasses(base: str, classes: list[ast.ClassDef]) -> set[str]:
    """`base` and every class that derives from it, by name."""
    names = {base}
    while True:
        more = {c.name for c in classes if any(_name(b) in names for b in c.bases)} - names
        if not more:
            return names
        names |= more


def _error_classes(trees: list[tuple[Path, ast.Module]]) -> set[str]:
    """The errors a user is answered with: MimbotError's subclasses but the configuration's
    (a ConfigError stops start-up; it is never a reply)."""
    classes = [n for _, tree in trees for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    return _subclasses(BASE, classes) - _subclasses(NOT_REPLIES, classes)


def _is_render_error(func: ast.expr) -> bool:
    """`render.error(...)` or `answers.error(...)`: a refusal given without raising."""
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "error"
        and _name(func.value) in ("render", "answers")
    )


def _text(node: ast.expr) -> str | None:
    """A message expression as text with _FIELD for each part not known until run time;
    None when nothing of it is literal."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else _FIELD for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        if left is None and right is None:
            return None
        return (left or _FIELD) + (right or _FIELD)
    return None


def _messages(trees: list[tuple[Path, ast.Module]]) -> Iterator[tuple[str, str]]:
    errors = _error_classes(trees)
    for path, tree in trees:
        where = path.relative_to(ROOT).as_posix()
        inits = [  # an error class's own words: super().__init__(f"...")
            call
            for cls in ast.walk(tree)
            if isinstance(cls, ast.ClassDef) and cls.name in errors
            for call in ast.walk(cls)
            if isinstance(call, ast.Call) and _name(call.func) == "__init__"
        ]
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            raised = _name(call.func) in errors or _is_render_error(call.func) or call in inits
            if raised and call.args and (text := _text(call.args[0])) is not None:
                yield text, f"{where}:{call.lineno}"
            for kw in call.keywords:  # a policy's own words: Rule(refusal="...{seq}...")
                if kw.arg and kw.arg.endswith("refusal") and (text := _text(kw.value)):
                    yield _FORMAT_FIELD.sub(_FIELD, text), f"{where}:{kw.value.lineno}"


def _pattern(line: str) -> re.Pattern[str] | None:
    literal = line.replace(_FIELD, "").strip()
    if not literal:
        return None
    parts = [re.escape(p) for p in line.split(_FIELD)]
    if len(literal) >= MIN_LITERAL:
        return re.compile(".+?".join(parts).strip())
    return re.compile("^" + r"\S+".join(parts).strip() + "$")


@cache
def templates() -> tuple[Template, ...]:
    """One pattern per line of each refusal message in the product source."""
    trees = list(_modules())
    found = [Template(USAGE, "bot/render/answers.py (a usage error's second line)")]
    for text, where in _messages(trees):
        for line in text.split("\n"):
            if (pattern := _pattern(line)) is not None:
                found.append(Template(pattern, where))
    return tuple(found)


def refusals(lines: Iterable[str]) -> list[tuple[str, str]]:
    """Each output line that reads as a refusal, with where its message is raised."""
    hits = []
    for line in lines:
        text = line.strip()
        for t in templates():
            if t.pattern.search(text):
                hits.append((text, t.where))
                break
    return hits
