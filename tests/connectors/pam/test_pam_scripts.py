"""The PAM scripts (connectors/pam/scripts/*.ps1), parsed with the PowerShell grammar: they
do what MIMPAM's documentation needs, which the stand-in (demo/pam_fixture.py) cannot show
since PowerShell never runs here. Each check fails on the script as it was before."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import tree_sitter as ts
import tree_sitter_powershell as tsp

SCRIPTS = Path(__file__).parents[3] / "connectors" / "pam" / "scripts"
PARSER = ts.Parser(ts.Language(tsp.language()))


@dataclass(frozen=True)
class Command:
    name: str
    parameters: tuple[str, ...]
    at: int  # byte offset in the script
    text: str


def parse(name: str) -> tuple[ts.Node, bytes]:
    source = (SCRIPTS / f"{name}.ps1").read_bytes()
    tree = PARSER.parse(source)
    assert not tree.root_node.has_error, f"{name}.ps1 does not parse"
    return tree.root_node, source


def nodes(root: ts.Node, kind: str) -> list[ts.Node]:
    found, stack = [], [root]
    while stack:
        node = stack.pop()
        if node.type == kind:
            found.append(node)
        stack.extend(reversed(node.children))
    return sorted(found, key=lambda n: n.start_byte)


def commands(name: str) -> list[Command]:
    root, source = parse(name)
    out = []
    for node in nodes(root, "command"):
        names = [c for c in node.children if c.type == "command_name"]
        if not names:
            continue
        params = tuple(
            source[p.start_byte : p.end_byte].decode().casefold()
            for p in nodes(node, "command_parameter")
            # only this command's own parameters, not those of commands nested in it
            if _owner(p) == node
        )
        text = source[node.start_byte : node.end_byte].decode()
        cmd = source[names[0].start_byte : names[0].end_byte].decode()
        out.append(Command(cmd.casefold(), params, node.start_byte, text))
    return out


def _owner(node: ts.Node) -> ts.Node | None:
    up = node.parent
    while up is not None and up.type != "command":
        up = up.parent
    return up


def code(name: str) -> str:
    """The script without its comments."""
    root, source = parse(name)
    text = bytearray(source)
    for c in nodes(root, "comment"):
        text[c.start_byte : c.end_byte] = b" " * (c.end_byte - c.start_byte)
    return text.decode()


def first(cmds: list[Command], name: str, *, with_param: str | None = None) -> Command:
    found = [
        c for c in cmds if c.name == name and (with_param is None or with_param in c.parameters)
    ]
    assert found, f"no {name} {with_param or ''}".strip()
    return found[0]


# -- 4.3: Remove-PAMUser refuses a role candidate (version history, 4.5.26.0) -------------


def test_the_removal_sets_each_roles_candidates_before_remove_pamuser() -> None:
    cmds = commands("pam_remove_user")
    set_role = first(cmds, "set-pamrole", with_param="-candidates")
    remove = first(cmds, "remove-pamuser")
    assert "-role" in set_role.parameters
    assert set_role.at < remove.at
    # the roles come from Get-PAMRole, read before they are set
    assert first(cmds, "get-pamrole").at < set_role.at
    assert {"-user", "-force", "-confirm"} <= set(remove.parameters)


def test_the_removal_keeps_the_other_candidates_and_refuses_a_roles_only_one() -> None:
    text = code("pam_remove_user")
    # the candidates other than this user, compared by PrivUserResourceId (PAMPOW's pattern)
    assert "PrivUserResourceId) -ne $id" in text
    set_role = first(commands("pam_remove_user"), "set-pamrole", with_param="-candidates")
    assert "$step.Others" in set_role.text
    # a role left without candidates: refused before anything is set
    refusal = text.index("'only_candidate'")
    assert refusal < text.index("Set-PAMRole")


# -- 4.6 / 4.9: both MIM Service objects and the PRIV account are checked afterwards ------


def test_the_removal_checks_afterwards_that_everything_is_gone() -> None:
    cmds = commands("pam_remove_user")
    remove = first(cmds, "remove-pamuser")
    after = [c.name for c in cmds if c.at > remove.at]
    assert "get-pamuser" in after  # the PAM user no longer listed
    assert "export-fimconfig" in after  # both MIM Service objects, by ObjectID
    text = code("pam_remove_user")
    assert "SourceUserResourceId" in text and "PrivUserResourceId" in text
    assert "LDAP://<SID=$sid>" in text  # the PRIV account, by its SID
    assert text.index("Remove-PAMUser") < text.index("RefreshCache()")


# -- 4.5: the PRIV domain is never the WinRM account's ------------------------------------


@pytest.mark.parametrize("script", ["pam_get_user", "pam_read_user", "pam_remove_user"])
def test_no_script_falls_back_to_the_winrm_accounts_domain(script: str) -> None:
    text = code(script).casefold()
    assert "userdomainname" not in text and "[environment]" not in text
    assert "privdomain" not in text  # a property no source lists


@pytest.mark.parametrize("script", ["pam_get_user", "pam_read_user"])
def test_the_user_scripts_read_the_priv_upn_and_both_ids(script: str) -> None:
    text = code(script)
    for prop in ("PrivUserPrincipalName", "SourceUserResourceId", "PrivUserResourceId"):
        assert f"$User.{prop}" in text, prop


# -- 4.7: the source domain, NetBIOS or DNS, compared case-insensitively -----------------


def test_the_search_compares_the_domain_in_the_script_case_insensitively() -> None:
    cmds = commands("pam_get_user")
    gets = [c for c in cmds if c.name == "get-pamuser"]
    assert gets and all("-sourcedomain" not in c.parameters for c in gets)
    text = code("pam_get_user").casefold()
    assert "$domains -contains" in text
    for case_sensitive in ("-ceq", "-ccontains", "-cin", "-clike", "-cmatch"):
        assert case_sensitive not in text


# -- doctor --------------------------------------------------------------------------------


def test_the_doctor_script_reads_only_and_asks_each_part_on_its_own() -> None:
    root, _ = parse("pam_doctor")
    cmds = commands("pam_doctor")
    names = {c.name for c in cmds}
    assert {"import-module", "get-module", "get-pamrole", "get-pamuser"} <= names
    assert "export-fimconfig" in names
    writes = {n for n in names if n.split("-")[0] in {"set", "remove", "new", "add"}}
    assert writes == {"add-pssnapin"}  # loads the snap-in; changes nothing
    assert "(Get-Module MIMPAM).Version" in code("pam_doctor")
    assert len(nodes(root, "try_statement")) >= 4  # module, roles, users, FIMAutomation


# -- search_records: the search reads the roles too ----------------------------------------


def test_the_search_reads_roles_as_the_read_does_and_only_when_asked() -> None:
    """pam_get_user.ps1 with `records`: Get-PAMRole inside a try (a failure leaves the roles
    out, for pam_read_user.ps1 to report), the candidates compared by PrivUserResourceId as
    pam_read_user.ps1 compares them."""
    root, _ = parse("pam_get_user")
    text = code("pam_get_user")
    assert "$MimbotArgs.records -and $result.Count -le [int]$MimbotArgs.records" in text
    tries = nodes(root, "try_statement")
    assert any("Get-PAMRole" in t.text.decode() for t in tries)
    read = code("pam_read_user")
    for part in ("$role.Candidates | Where-Object { $null -ne $_ }", "$_.PrivUserResourceId"):
        assert part in text and part in read
    assert "$out.only_candidate_of = $only" in text
