"""Every PowerShell script under connectors/ parses, bare and as the runner sends it, and
keeps the runner's contract in what can be seen without running it.

PowerShell never runs here (the WinRM stand-in answers each script by name), so a syntax
error in a .ps1 would first show on a customer's server. Each script is parsed with the
PowerShell tree-sitter grammar twice: the file as it is, and the text `script_text` wraps
it in (connectors/_shared/powershell.py: prelude, `& { <body> }` and the envelope's
try/catch), so a body that only breaks inside the wrapper is caught too. Any ERROR or
MISSING node fails, named by file and line.

Statically, too: no script builds code from text (`Invoke-Expression`, `iex`,
`[scriptblock]::Create`, `NewScriptBlock`, `ExpandString`, `Add-Type -TypeDefinition` from
anything but a verbatim string), so no `$MimbotArgs` value can become code; no XPath or filter
is built by pasting a `$MimbotArgs` value into a string; nothing writes to the host or the
console (`Write-Host`, `Out-Host`, `[Console]`: only the wrapper's one envelope line may reach
stdout); and each script opens with its contract comment (what it does, its `$MimbotArgs`
when it reads any, what it outputs).

One known gap of the grammar: a `default { ... }` clause on the same line as another switch
clause parses as an error though PowerShell accepts it; write switch clauses one per line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import tree_sitter as ts
import tree_sitter_powershell as tsp

from connectors._shared.powershell import PRELUDE, SCRIPTS, WRAP_CLOSE, WRAP_OPEN, script_text
from tests.support.paths import REPO

PARSER = ts.Parser(ts.Language(tsp.language()))
ALL = sorted((REPO / "connectors").rglob("*.ps1"))
IDS = [str(p.relative_to(REPO)) for p in ALL]

# Commands that turn text into code: none is needed, so none may appear at all.
CODE_FROM_TEXT_COMMANDS = frozenset({"invoke-expression", "iex"})
CODE_FROM_TEXT_MEMBERS = frozenset({"expandstring", "newscriptblock"})
# Output that bypasses the wrapper's envelope (the runner reads one stdout line).
HOST_COMMANDS = frozenset({"write-host", "out-host"})
SCRIPTBLOCK_TYPES = frozenset({"[scriptblock]", "[system.management.automation.scriptblock]"})
# Parameters that take an XPath or a filter: a `$MimbotArgs` value pasted into a string is
# not to be passed here (build it in Python, where it is escaped, or validate it first).
FILTER_PARAMETERS = frozenset({"-xpath", "-filter", "-ldapfilter", "-customconfig", "-query"})
FILTER_NAMES = ("xpath", "filter", "query")


# -- parsing ------------------------------------------------------------------------


def parse(text: str | bytes) -> ts.Tree:
    return PARSER.parse(text.encode("utf-8") if isinstance(text, str) else text)


def nodes(node: ts.Node) -> Iterator[ts.Node]:
    yield node
    for child in node.children:
        yield from nodes(child)


def _problems(text: str) -> list[tuple[int, str]]:
    """(0-based row, what) for each ERROR or MISSING node of `text`."""
    found = []
    for n in nodes(parse(text).root_node):
        if n.is_error or n.is_missing:
            what = f"missing {n.type!r}" if n.is_missing else "cannot parse"
            near = n.text.decode("utf-8", "replace").strip().splitlines()[:1] if n.text else []
            found.append((n.start_point.row, f"{what} near {near}"))
    return found


def syntax_problems(text: str) -> list[str]:
    """`line N: ...` for each ERROR or MISSING node of `text`."""
    return [f"line {row + 1}: {what}" for row, what in _problems(text)]


def script_problems(path: Path) -> list[str]:
    """The file's syntax problems, bare and wrapped as the runner sends it; a problem in
    the wrapped text is named by the file's line, or as the wrapper's own when it lies
    before or after the body."""
    bare = path.read_text(encoding="utf-8-sig")
    problems = [f"{path.name} {p}" for p in syntax_problems(bare)]
    wrapped = script_text(path.stem, {})
    body = bare.replace("\r\n", "\n").rstrip("\n")
    before = wrapped[: wrapped.index(body)].count("\n")  # wrapper lines before the body
    length = body.count("\n") + 1
    for row, what in _problems(wrapped):
        line = row - before + 1
        where = (
            f"line {line}"
            if 1 <= line <= length
            else f"wrapper line {row + 1} ({'before' if line < 1 else 'after'} the body)"
        )
        problems.append(f"{path.name} (wrapped) {where}: {what}")
    return problems


def test_every_script_is_found_and_is_one_the_runner_can_send():
    assert len(ALL) >= 10, "the glob found too few scripts: is the repository layout moved?"
    folders = {p.resolve() for p in SCRIPTS}
    for path in ALL:
        # A .ps1 outside connectors/*/scripts would never be sent: it would be dead code
        # that no test of the runner's sees.
        assert path.parent.resolve() in folders, f"{path} is not in a runner scripts folder"


@pytest.mark.parametrize("path", ALL, ids=IDS)
def test_each_script_parses_bare_and_wrapped(path):
    problems = script_problems(path)
    assert not problems, "\n".join(problems)


# Each is broken in a way PowerShell itself refuses; the line is where the grammar first
# notices (an unclosed block: at its end).
BROKEN = [
    ("if ($x) {\n    1\n", 2, "an unclosed block"),
    ("$a = 1\n$s = 'not closed\n", 2, "an unterminated string"),
    ("$h = @{ a = 1\n", 1, "an unclosed hashtable"),
    ("$x = (1 + )\n", 1, "a missing operand"),
    ("$a = 1\n}\n", 2, "a stray closing brace"),
    ("$ok = 1\n$y = @(1, 2\n$z = 3\n", 2, "an unclosed array"),
    ("function f( { }\n", 1, "an unclosed parameter list"),
]


@pytest.mark.parametrize(("text", "line", "why"), BROKEN, ids=[b[2] for b in BROKEN])
def test_a_broken_snippet_is_caught_bare_and_wrapped(text, line, why):
    bare = syntax_problems(text)
    assert bare, f"{why} was not caught"
    assert bare[0].startswith(f"line {line}:"), bare
    wrapped = PRELUDE.format(name="x", args="e30=") + WRAP_OPEN + text.rstrip("\n") + WRAP_CLOSE
    assert syntax_problems(wrapped), f"{why} was not caught inside the wrapper"


def test_a_broken_script_file_is_named_with_its_line(tmp_path, monkeypatch):
    # The file-level check itself, on a .ps1 the runner would send (its wrapper included).
    import connectors._shared.powershell as ps

    folder = tmp_path / "scripts"
    folder.mkdir()
    broken = folder / "zz_broken.ps1"
    broken.write_text("# A broken script.\n$a = 1\n$b = @{ x = 'y'\n$c = 2\n", encoding="utf-8")
    monkeypatch.setattr(ps, "SCRIPTS", (folder,))
    problems = script_problems(broken)
    assert any(p.startswith("zz_broken.ps1 line") for p in problems), problems
    assert any(p.startswith("zz_broken.ps1 (wrapped) ") for p in problems), problems


def test_a_sound_snippet_passes():
    assert syntax_problems("$x = @{ a = 1 }\nif ($x.a) { 'yes' } else { 'no' }\n") == []


# -- what can be seen without running -------------------------------------------------


def command_name(node: ts.Node) -> str:
    name = node.child_by_field_name("command_name") or next(
        (c for c in node.children if c.type == "command_name"), None
    )
    return name.text.decode().lower() if name is not None and name.text else ""


def code_from_text(text: str) -> list[str]:
    """Where `text` turns a string into code."""
    found = []
    for n in nodes(parse(text).root_node):
        line = n.start_point.row + 1
        if n.type == "command":
            name = command_name(n)
            if name in CODE_FROM_TEXT_COMMANDS:
                found.append(f"line {line}: {name}")
            if name == "add-type" and _type_definition_not_verbatim(n):
                found.append(f"line {line}: Add-Type -TypeDefinition from a built string")
        elif n.type == "invokation_expression":
            member = _member(n)
            target = (
                n.children[0].text.decode().lower() if n.children and n.children[0].text else ""
            )
            if member in CODE_FROM_TEXT_MEMBERS:
                found.append(f"line {line}: {member}")
            if member == "create" and target.replace(" ", "") in (
                "[scriptblock]",
                "[system.management.automation.scriptblock]",
            ):
                found.append(f"line {line}: [scriptblock]::Create")
    return found


def _text(n: ts.Node) -> str:
    return n.text.decode().lower() if n.text else ""


def _member(n: ts.Node) -> str:
    member = next((c for c in n.children if c.type == "member_name"), None)
    return member.text.decode().lower() if member is not None and member.text else ""


def _arguments(command: ts.Node) -> list[ts.Node]:
    elements = next((c for c in command.children if c.type == "command_elements"), None)
    if elements is None:
        return []
    return [c for c in elements.children if c.type != "command_argument_sep"]


def _type_definition_not_verbatim(command: ts.Node) -> bool:
    args = _arguments(command)
    for i, a in enumerate(args):
        if a.type == "command_parameter" and a.text.decode().lower().startswith("-typedef"):
            value = args[i + 1] if i + 1 < len(args) else None
            return value is None or not _verbatim(value)
    return False


def _verbatim(node: ts.Node) -> bool:
    """A single-quoted string (or here-string): nothing in it is expanded."""
    kinds = {n.type for n in nodes(node)}
    return bool(kinds & {"verbatim_string_characters", "verbatim_here_string_characters"}) and not (
        kinds & {"expandable_string_literal", "expandable_here_string_literal", "variable"}
    )


def pasted_into_filters(text: str) -> list[str]:
    """Where a `$MimbotArgs` value is pasted into a string (interpolated, `+` or `-f`) that
    is passed to an XPath/filter parameter or kept in a variable named for one."""
    found = []
    for n in nodes(parse(text).root_node):
        if not _pastes_args(n):
            continue
        line = n.start_point.row + 1
        up = n.parent
        while up is not None and up.type not in ("command", "assignment_expression"):
            up = up.parent
        if up is None:
            continue
        if up.type == "command":
            args = _arguments(up)
            for i, a in enumerate(args):
                if a.type == "command_parameter" and a.text.decode().lower() in FILTER_PARAMETERS:
                    value = args[i + 1] if i + 1 < len(args) else None
                    if value is not None and value.start_byte <= n.start_byte < value.end_byte:
                        found.append(f"line {line}: {a.text.decode()} {n.text.decode()[:60]}")
        else:
            target = up.children[0].text.decode().lower() if up.children[0].text else ""
            if any(f in target for f in FILTER_NAMES) and n.start_byte >= up.children[0].end_byte:
                found.append(f"line {line}: {target} = {n.text.decode()[:60]}")
    return found


def _pastes_args(n: ts.Node) -> bool:
    text = n.text.decode().lower() if n.text else ""
    if "$mimbotargs" not in text:
        return False
    if n.type in ("expandable_string_literal", "expandable_here_string_literal"):
        return True
    if n.type in ("additive_expression", "format_expression") and n.named_child_count > 1:
        return any(
            c.type in ("string_literal",) or "string_literal" in {x.type for x in nodes(c)}
            for c in n.children
        )
    return False


def host_output(text: str) -> list[str]:
    found = []
    for n in nodes(parse(text).root_node):
        line = n.start_point.row + 1
        if n.type == "command" and command_name(n) in HOST_COMMANDS:
            found.append(f"line {line}: {command_name(n)}")
        elif (
            n.type == "type_literal"
            and n.text
            and n.text.decode().lower().replace(" ", "")
            in (
                "[console]",
                "[system.console]",
            )
        ):
            found.append(f"line {line}: {n.text.decode()}")
    return found


def contract_comment(text: str) -> list[str]:
    """What the opening comment block lacks: it must open the file, say what the script
    outputs, and name `$MimbotArgs` when the script reads any."""
    lines = text.replace("\r\n", "\n").split("\n")
    head = []
    for line in lines:
        if not line.startswith("#"):
            break
        head.append(line)
    lacks = []
    if not head or len(head[0].lstrip("# ").strip()) < 10:
        return ["the file does not open with a comment saying what the script does"]
    block = "\n".join(head)
    body = "\n".join(lines[len(head) :])
    if "output" not in block.lower():
        lacks.append("the opening comment does not say what the script outputs")
    if "$mimbotargs" in body.lower() and "$MimbotArgs" not in block:
        lacks.append("the script reads $MimbotArgs but its opening comment does not name them")
    return lacks


@pytest.mark.parametrize("path", ALL, ids=IDS)
def test_no_script_turns_text_into_code(path):
    found = code_from_text(path.read_text(encoding="utf-8-sig"))
    assert not found, f"{path.name}: " + "; ".join(found)


@pytest.mark.parametrize("path", ALL, ids=IDS)
def test_no_script_pastes_an_argument_into_an_xpath_or_filter(path):
    found = pasted_into_filters(path.read_text(encoding="utf-8-sig"))
    assert not found, f"{path.name}: " + "; ".join(found)


@pytest.mark.parametrize("path", ALL, ids=IDS)
def test_no_script_writes_to_the_host(path):
    found = host_output(path.read_text(encoding="utf-8-sig"))
    assert not found, f"{path.name}: " + "; ".join(found)


@pytest.mark.parametrize("path", ALL, ids=IDS)
def test_each_script_opens_with_its_contract(path):
    lacks = contract_comment(path.read_text(encoding="utf-8-sig"))
    assert not lacks, f"{path.name}: " + "; ".join(lacks)


# Each static check can fail: one snippet per construct it must catch, and one it must not.
CODE = [
    "Invoke-Expression $MimbotArgs.command",
    'iex "Get-Item $($MimbotArgs.path)"',
    "IEX ('Get-' + 'Item')",
    "& ([scriptblock]::Create($MimbotArgs.code))",
    "[ScriptBlock]::Create('1')",
    "$ExecutionContext.InvokeCommand.ExpandString($MimbotArgs.template)",
    "$ExecutionContext.InvokeCommand.NewScriptBlock($s)",
    'Add-Type -TypeDefinition "public class X { $($MimbotArgs.code) }"',
    "Add-Type -TypeDefinition $source",
]


@pytest.mark.parametrize("text", CODE)
def test_code_from_text_is_caught(text):
    assert code_from_text(text), text


def test_code_from_text_spares_the_ordinary():
    text = (
        "Add-Type -TypeDefinition 'public class X { }'\n"
        "$sb = { param($x) $x }\n& $sb 1\n"
        "Get-Item -LiteralPath $MimbotArgs.path\n"
    )
    assert code_from_text(text) == []


PASTED = [
    "Search-Resources -XPath \"/Person[AccountName = '$($MimbotArgs.name)']\"",
    "Export-FIMConfig -CustomConfig ('/Person[ObjectID = ' + $MimbotArgs.id + ']')",
    "Get-ADUser -Filter (\"samAccountName -eq '{0}'\" -f $MimbotArgs.name)",
    "$xpath = \"/Person[DisplayName = '$($MimbotArgs.display)']\"",
    "$ldapFilter = '(cn=' + $MimbotArgs.cn + ')'",
]


@pytest.mark.parametrize("text", PASTED)
def test_an_argument_pasted_into_a_filter_is_caught(text):
    assert pasted_into_filters(text), text


def test_a_filter_passed_as_data_is_not_flagged():
    text = (
        "Search-Resources -XPath $MimbotArgs.xpath -AttributesToGet ObjectID\n"
        "$id = ([guid][string]$MimbotArgs.id).ToString()\n"
        '$message = "no such person: $($MimbotArgs.id)"\n'
    )
    assert pasted_into_filters(text) == []


@pytest.mark.parametrize(
    "text",
    ["Write-Host 'hello'", "write-host $x", "$x | Out-Host", "[Console]::WriteLine('x')",
     "[System.Console]::Out.Write('x')"],
)  # fmt: skip
def test_host_output_is_caught(text):
    assert host_output(text), text


def test_output_to_the_pipeline_is_not_host_output():
    assert host_output("Write-Output 1\n[ordered]@{ a = 1 }\nWrite-Verbose 'x'\n") == []


@pytest.mark.parametrize(
    ("text", "lack"),
    [
        ("$x = 1\n", "does not open with a comment"),
        ("# Does a thing to a person.\n$MimbotArgs.id\n", "does not say what the script outputs"),
        ("# Does a thing. Outputs @{ ok }.\n$MimbotArgs.id\n", "does not name them"),
    ],
)
def test_a_missing_contract_comment_is_caught(text, lack):
    assert any(lack in x for x in contract_comment(text)), contract_comment(text)
