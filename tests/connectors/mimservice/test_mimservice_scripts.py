"""The MIM Service scripts (connectors/mimservice/scripts/*.ps1), parsed with the PowerShell
grammar: they do what the modules' documentation and code need, which the stand-in
(demo/mimservice_fixture.py) cannot show since PowerShell never runs here. Each check fails
on the scripts as they were before (the old LithnetRMA loop is kept below and must fail).

- LithnetRMA's cmdlets output RmaObject, a PSObject whose note properties are the attributes;
  it has no `.Attributes` (lithnet/resourcemanagement-powershell RmaObject.cs LoadProperties).
- Get-Resource throws ResourceNotFoundException for an unknown id, so `if (-not $person)`
  after it never fires (GetResource.cs).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import tree_sitter as ts
import tree_sitter_powershell as tsp

SCRIPTS = Path(__file__).parents[3] / "connectors" / "mimservice" / "scripts"
PARSER = ts.Parser(ts.Language(tsp.language()))
ALL = sorted(p.stem for p in SCRIPTS.glob("mimservice_*.ps1"))
# The scripts that turn a whole result into attributes (the others read named properties,
# `$r.CreatedTime`, which RmaObject has: mim-apis-checked 2.4).
GENERIC = ("mimservice_search", "mimservice_read")
EXPORTS = ("mimservice_search", "mimservice_read", "mimservice_delete", "mimservice_requests")
WRITES = {"save-resource", "remove-resource", "new-resource", "import-fimconfig", "import-rmconfig"}
# The LithnetRMA branch of mimservice_search.ps1 before the fix (mim-apis-checked 2.3).
OLD_SEARCH = b"""
$found = @(if ($MimbotArgs.module -eq 'lithnetrma') {
    Import-Module LithnetRMA
    $results = Search-Resources -XPath $MimbotArgs.xpath -AttributesToGet $MimbotArgs.attributes
    foreach ($r in $results) {
        $attributes = @{}
        foreach ($a in $r.Attributes) {
            if (-not $a.IsNull) { $attributes[$a.AttributeName] = $a.Values }
        }
        @{ id = [string]$r.ObjectID; attributes = $attributes }
    }
} else { Add-PSSnapin FIMAutomation })
"""
OLD_UPDATE = b"""
if ($MimbotArgs.module -eq 'lithnetrma') {
    $person = Get-Resource -ID $MimbotArgs.id -AttributesToGet $names
    if (-not $person) { throw 'Get-Resource found no Person with that ObjectID' }
}
"""


def parse(source: bytes) -> ts.Node:
    tree = PARSER.parse(source)
    assert not tree.root_node.has_error, "the script does not parse"
    return tree.root_node


def script(name: str) -> ts.Node:
    return parse((SCRIPTS / f"{name}.ps1").read_bytes())


def nodes(root: ts.Node, kind: str) -> list[ts.Node]:
    found, stack = [], [root]
    while stack:
        node = stack.pop()
        if node.type == kind:
            found.append(node)
        stack.extend(reversed(node.children))
    return sorted(found, key=lambda n: n.start_byte)


def text(node: ts.Node) -> str:
    return (node.text or b"").decode()


def functions(root: ts.Node) -> dict[str, ts.Node]:
    out = {}
    for f in nodes(root, "function_statement"):
        (name,) = [c for c in f.children if c.type == "function_name"]
        out[text(name).casefold()] = f
    return out


def branch(root: ts.Node, *, lithnet: bool) -> list[ts.Node]:
    """The statement blocks a module's branch runs, with the script's functions it calls
    (transitively): the `if` on `'lithnetrma'` (or `$lithnet`), or its `else`."""
    regions = []
    for node in nodes(root, "if_statement"):
        condition = next(c for c in node.children if c.type == "pipeline")
        if "'lithnetrma'" not in text(condition) and text(condition) != "$lithnet":
            continue
        if lithnet:
            regions.append(next(c for c in node.children if c.type == "statement_block"))
        else:
            regions += [
                b for e in node.children if e.type == "else_clause" for b in e.children
                if b.type == "statement_block"
            ]  # fmt: skip
    defined, seen = functions(root), set()
    todo = list(regions)
    while todo:
        region = todo.pop()
        for command in nodes(region, "command_name"):
            name = text(command).casefold()
            if name in defined and name not in seen:
                seen.add(name)
                regions.append(defined[name])
                todo.append(defined[name])
    return regions


def member_names(regions: list[ts.Node]) -> list[str]:
    """The members asked of anything but the script's own arguments ($MimbotArgs.attributes
    is the list of names the connector sent)."""
    return [
        text(m.children[-1]).casefold()
        for r in regions
        for m in nodes(r, "member_access")
        if text(m.children[0]) != "$MimbotArgs"
    ]


def reads_rma_attributes(root: ts.Node) -> bool:
    """The LithnetRMA branch never asks a result for `.Attributes`, and turns a result into
    attributes by `foreach ($p in $x.PSObject.Properties)` over `.Name` and `.Value`,
    skipping `$null`."""
    regions = branch(root, lithnet=True)
    if not regions or "attributes" in member_names(regions):
        return False
    for region in regions:
        for loop in nodes(region, "foreach_statement"):
            collection = next(c for c in loop.children if c.type == "pipeline")
            body = next(c for c in loop.children if c.type == "statement_block")
            if text(collection).casefold().endswith(".psobject.properties"):
                used = member_names([body])
                if "name" in used and "value" in used and "$null -eq" in text(body):
                    return True
    return False


@pytest.mark.parametrize("name", ALL)
def test_no_lithnetrma_branch_asks_a_result_for_attributes(name: str) -> None:
    regions = branch(script(name), lithnet=True)
    assert regions, f"{name}.ps1 has no LithnetRMA branch"
    assert "attributes" not in member_names(regions)


@pytest.mark.parametrize("name", GENERIC)
def test_lithnetrma_results_are_read_through_their_own_properties(name: str) -> None:
    assert reads_rma_attributes(script(name))


def test_the_checks_fail_on_the_old_lithnetrma_loop() -> None:
    old = parse(OLD_SEARCH)
    assert "attributes" in member_names(branch(old, lithnet=True))
    assert not reads_rma_attributes(old)


def guards(root: ts.Node) -> list[str]:
    return [
        text(next(c for c in i.children if c.type == "pipeline"))
        for r in branch(root, lithnet=True)
        for i in nodes(r, "if_statement")
    ]


def test_the_update_relies_on_get_resource_throwing_not_on_a_null_guard() -> None:
    root = script("mimservice_update")
    calls = [
        text(c).casefold() for r in branch(root, lithnet=True) for c in nodes(r, "command_name")
    ]
    assert "get-resource" in calls and "save-resource" in calls
    assert "-not $person" not in guards(root)
    assert "-not $person" in guards(parse(OLD_UPDATE))


@pytest.mark.parametrize("lithnet", [True, False])
def test_residual_requests_report_their_expiration_time(lithnet: bool) -> None:
    root = script("mimservice_requests")
    regions = branch(root, lithnet=lithnet)
    keys = {text(k) for r in regions for k in nodes(r, "key_expression")}
    assert {"created", "completed", "expires"} <= keys
    assert "'ExpirationTime'" in {text(s) for s in nodes(root, "string_literal")}


@pytest.mark.parametrize("name", EXPORTS)
def test_export_fimconfig_takes_message_size_only_from_the_arguments(name: str) -> None:
    root = script(name)
    regions = branch(root, lithnet=False)
    exports = [
        c for r in regions for c in nodes(r, "command")
        if text(c.children[0]).casefold() == "export-fimconfig"
    ]  # fmt: skip
    assert exports and all("@export" in text(c) for c in exports)
    assignments = [text(a) for r in regions for a in nodes(r, "assignment_expression")]
    assert "$export.MessageSize = [string]$MimbotArgs.message_size" in assignments


def test_the_doctor_script_writes_nothing_and_reads_no_person() -> None:
    root = script("mimservice_doctor")
    for lithnet in (True, False):
        assert branch(root, lithnet=lithnet), "both modules have a branch"
    calls = {text(c).casefold() for c in nodes(root, "command_name")}
    assert not calls & WRITES
    assert not any("/person" in text(s).casefold() for s in nodes(root, "string_literal"))
    assert "attributes" not in member_names(branch(root, lithnet=True))


def test_the_search_fills_the_request_filter_only_with_a_guid() -> None:
    """search_records: the one filter completed on the server is the connector's template,
    `-f` a value cast to [guid], inside the try that leaves a failed part to `read`."""
    root = script("mimservice_search")
    tries = [t for t in nodes(root, "try_statement")]
    inside = {text(a) for t in tries for a in nodes(t, "assignment_expression")}
    assert "$filter = $MimbotArgs.requests_xpath -f $target" in inside
    (target,) = [a for a in inside if a.startswith("$target = ")]
    assert target.startswith("$target = ([guid]")
    formats = [text(op.parent) for op in nodes(root, "format_operator") if op.parent]
    assert formats == ["$MimbotArgs.requests_xpath -f $target"]  # nothing else is formatted
