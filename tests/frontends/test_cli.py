"""The command line: the demo, the console, `audit verify` and `check`, as a user runs them."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.paths import REPO as ROOT


def run(*args, env=None, stdin=None, module="bot"):
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        input=stdin,
    )


def demo(*args, stdin=None):
    """`python -m demo ...`: the demo's own entry point."""
    return run(*args, stdin=stdin, module="demo")


def write_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(f"""
slack: {{bot_token: "${{T}}", signing_secret: "${{S}}"}}
roles: {{viewer: {{users: [UVIEW]}}}}
audit: {{url: "sqlite:///{tmp_path / "audit.db"}", subject_key: "${{K}}", chain_key: "${{C}}"}}
{extra}
""")
    return path


ENV = {
    "T": "xoxb-t",
    "S": "s",
    "K": "cli-subject-key-0123456789",
    "C": "cli-chain-key-0123456789abcdef0123456789",
}


def test_demo_script_runs_commands_as_different_callers(tmp_path):
    script = tmp_path / "script.txt"
    script.write_text(
        "find user sobrien\nfind Zo*\nas UDEMONOBODY find user sobrien\nfind user x*\nhelp\n"
    )
    result = demo("--script", str(script))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Seán O'Brien (sobrien) · MIM Sync metaverse" in out
    assert "Seán O'Brien (sobrien) · Active Directory" in out
    assert "Zoë Ångström" in out
    assert "needs the viewer role" in out
    assert "A prefix needs at least 2 characters." in out
    assert "audit chain: OK, 3 event(s)" in out  # two searches and one refusal


def test_demo_erasure_flow_from_request_to_completion(tmp_path):
    script = tmp_path / "script.txt"
    lines = [
        "delete kschmidt10 left in 2024",
        "approve REQ-2026-0001",  # the requester may not approve
        "as UDEMOAPPROVER approve REQ-2026-0001",
        "cm-retire kschmidt10",  # what its manual step asks, in the CM portal
        "done REQ-2026-0001 2",
        "sync",
        "status REQ-2026-0001",
        "find user kschmidt10",
    ]
    script.write_text("\n".join(lines))
    result = demo("--script", str(script))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "HR is the source of authority" in out
    # Source of authority first, then Certificate Management by hand (it has no API to
    # erase with) before AD, the systems HR provisions, the metaverse wait last.
    plan = re.findall(r":white_circle: \d+\. (\w+):", out.split("You approved")[0])
    assert plan == ["hr", "certmgmt", "ad", "mimservice", "bhold", "mimsync"]
    assert "each smart card: Retire; each software profile: Revoke" in out
    assert "(demo) in the CM portal: 1 smart card(s) and profile(s) of kschmidt10" in out
    assert "Certificate Management keeps retired smart cards and revoked profiles" in out
    assert "Only the approver role can decide" in out
    assert "Erasure REQ-2026-0001 completed" in out
    assert "[DM to UDEMOADMIN]" in out and "[#notifications]" in out
    assert "subject scrubbed (completed" in out
    assert "MIM Sync metaverse: not found" in out and "Active Directory: not found" in out
    assert "HR: not found" in out and "BHOLD: not found" in out
    assert "audit chain: OK" in out


def test_demo_reads_commands_from_a_prompt():
    result = demo(stdin="find 100010\n")
    assert result.returncode == 0, result.stderr
    assert "Katarzyna Schmidt (kschmidt10)" in result.stdout
    # PAM and CM search by account only: asked again by the account HR returned.
    assert "MIM PAM: not found (asked by the account kschmidt10 that HR returned)" in (
        result.stdout
    )
    assert "Certificate Management: found 1, by the account kschmidt10 that HR returned" in (
        result.stdout
    )


def test_bad_configuration_stops_with_one_clear_line(tmp_path):
    path = tmp_path / "app.yaml"
    path.write_text("slack: {bot_token: xoxb-in-clear}\naudit: {subject_key: x}\n")
    result = run("--config", str(path), "check")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"configuration error: {path}: slack.bot_token: secret written in clear; "
        "use ${ENV_VAR} or bot_token_file"
    )


def test_audit_verify_reports_ok_then_the_first_broken_event(tmp_path):
    config = write_config(tmp_path)
    run("--config", str(config), "check", env=ENV)
    run("--config", str(config), "check", env=ENV)
    ok = run("--config", str(config), "audit", "verify", env=ENV)
    assert ok.returncode == 0 and ok.stdout.splitlines()[0] == "OK: 2 event(s), chain intact"
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_events SET outcome = 'tampered' WHERE seq = 1"))
    engine.dispose()
    broken = run("--config", str(config), "audit", "verify", env=ENV)
    assert broken.returncode == 1
    assert broken.stdout.splitlines()[0] == (
        "BROKEN at event 1: content does not match its hash (edited, or written without "
        "the chain key)"
    )


@pytest.mark.samba
def test_check_reports_each_connector(tmp_path, samba):
    config = write_config(
        tmp_path,
        f"""
connectors:
  ad: {{url: "{samba.uri}", bind_dn: "{samba.bind_user}", password: "${{ADPW}}",
        base_dn: "{samba.base_dn}", ca_file: "{samba.ca_file}"}}
""",
    )
    good = run("--config", str(config), "check", env={**ENV, "ADPW": samba.password})
    assert good.returncode == 0, good.stdout + good.stderr
    assert "OK   Active Directory: bound and read the base DN" in good.stdout
    bad = run("--config", str(config), "check", env={**ENV, "ADPW": "wrong"})
    assert bad.returncode == 1
    assert "FAIL Active Directory: Denied" in bad.stdout


def test_console_runs_a_script_as_the_given_caller(tmp_path):
    config = write_config(tmp_path)
    script = tmp_path / "s.txt"
    script.write_text("help\nfind user someone\n")
    result = run(
        "--config", str(config), "console", "--as", "UVIEW", "--script", str(script), env=ENV
    )
    assert result.returncode == 0, result.stderr
    assert "/mim find user <term>" in result.stdout
    assert "0 hit(s) in 0 system(s)" in result.stdout


def test_audit_subject_lists_who_searched_for_or_was_shown_a_person(tmp_path):
    from bot.audit import AuditLog, SubjectKeyer
    from bot.database import create_engine, migrate
    from bot.lookup.search import SearchService
    from bot.permissions.roles import Actor, Role
    from connectors.base import IdKind, Query, QueryKind
    from connectors.memory import MemoryConnector, Person
    from tests.support.keys import CHAIN_KEY

    config = write_config(tmp_path)
    engine = create_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate(engine)
    people = [
        Person(
            "1", {IdKind.ACCOUNT: "jdoe", IdKind.DISPLAY_NAME: "Jane Doe"}, {"dept": ("Sales",)}
        ),
        Person("2", {IdKind.ACCOUNT: "rroe", IdKind.DISPLAY_NAME: "Rita Roe"}, {"dept": ("HR",)}),
    ]
    search = SearchService(
        [MemoryConnector("ad", "AD", people)],
        audit=AuditLog(engine, chain_key=CHAIN_KEY),
        keyer=SubjectKeyer(ENV["K"]),
    )
    viewer = Actor("UVIEW", frozenset({Role.VIEWER}))
    try:
        search.find(Query(QueryKind.ATTRIBUTE, "Sales", attribute="dept"), actor=viewer)
        search.find(Query(QueryKind.NAME, "rroe"), actor=viewer)
    finally:
        search.close()
        engine.dispose()
    jane = run("--config", str(config), "audit", "subject", "JDoe", env=ENV)
    assert jane.returncode == 0, jane.stderr
    lines = jane.stdout.strip().splitlines()
    assert lines[-1] == "1 event(s)"
    assert "UVIEW" in lines[0] and "find" in lines[0] and "shown in a result" in lines[0]
    rita = run("--config", str(config), "audit", "subject", "rroe", env=ENV).stdout
    assert "searched for" in rita and rita.strip().endswith("1 event(s)")
    assert "Jane" not in jane.stdout + rita  # keys only: the store holds no names


def test_the_old_demo_command_points_to_the_new_one():
    result = run("demo", "--script", "x")
    assert result.returncode == 2
    assert result.stderr.strip() == "The demo has its own entry point: python -m demo"


def test_a_missing_script_is_one_clear_line_not_a_traceback(tmp_path):
    result = demo("--script", str(tmp_path / "nope.txt"))
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"cannot read the script {tmp_path / 'nope.txt'}: FileNotFoundError"
    )


def test_config_may_come_before_or_after_the_sub_command(tmp_path):
    config = write_config(tmp_path)
    before = run("--config", str(config), "audit", "verify", env=ENV)
    after = run("audit", "verify", "--config", str(config), env=ENV)
    assert before.returncode == after.returncode == 0, after.stderr
    assert before.stdout.splitlines()[0] == after.stdout.splitlines()[0]


def test_a_short_subject_key_stops_start_up_with_one_line(tmp_path):
    config = write_config(tmp_path)
    result = run("check", "--config", str(config), env={**ENV, "K": "too-short"})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"configuration error: {config}: audit.subject_key: "
        "String should have at least 16 characters"
    )


def test_check_reports_hr_bhold_and_certificate_management(tmp_path):
    from demo.bhold_stub import BASIC_USER, BholdStub
    from demo.cm_fixture import CmFixture
    from demo.cm_stub import CmStub
    from demo.hr_sample import Employee, create_table
    from demo.wsman_stub import WsmanStub

    hr_url = f"sqlite:///{tmp_path / 'hr.db'}"
    engine = sa.create_engine(hr_url)
    create_table(engine, [Employee("1", "jdoe", "Jane Doe", "jdoe@example.test")])
    engine.dispose()
    with BholdStub() as bhold, CmStub() as cm, WsmanStub() as winrm:
        CmFixture().install(winrm)

        def service(url: str, ca_file: str) -> str:
            return (
                f'{{url: "{url}", auth: basic, username: "{BASIC_USER[0]}", '
                f'password: "${{SVCPW}}", ca_file: "{ca_file}"}}'
            )

        config = write_config(
            tmp_path,
            f"""
connectors:
  hr: {{url: "{hr_url}", table: employees, key: emp_no,
        identifiers: {{employee_id: emp_no, account: login, mail: email}}}}
  bhold: {{service: {service(bhold.https_url, bhold.ca_file)}, domain: CORP,
          attribute_types: {{}}}}
  certmgmt: {{service: {service(cm.https_url, cm.ca_file)}, domain: CORP,
             winrm: {{endpoint: "{winrm.https_endpoint}", transport: basic,
                     username: "{BASIC_USER[0]}", password: "${{SVCPW}}",
                     ca_file: "{winrm.ca_file}"}}}}
""",
        )
        good = run("--config", str(config), "check", env={**ENV, "SVCPW": BASIC_USER[1]})
        assert good.returncode == 0, good.stdout + good.stderr
        assert "OK   HR: table employees readable (read only)" in good.stdout
        assert "OK   BHOLD:" in good.stdout and "OK   Certificate Management:" in good.stdout
        bad = run("--config", str(config), "check", env={**ENV, "SVCPW": "wrong"})
        assert bad.returncode == 1
        assert "FAIL BHOLD:" in bad.stdout and "FAIL Certificate Management:" in bad.stdout
        assert "OK   HR:" in bad.stdout  # one system's failure hides no other's answer


def test_an_hr_section_that_cannot_work_is_one_line(tmp_path):
    config = write_config(
        tmp_path,
        """
connectors:
  hr: {kind: csv, folder: /nowhere, key: id, identifiers: {mail: email}}
""",
    )
    result = run("--config", str(config), "check", env=ENV)
    assert result.returncode != 0
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith("connectors.hr.mapping: identifiers must map account or employee_id to a column")
    ), result.stderr


def test_demo_reminds_of_the_due_date_when_the_clock_moves_on(tmp_path):
    script = tmp_path / "script.txt"
    lines = [
        "delete kschmidt10 left in 2024",
        "as UDEMOAPPROVER approve REQ-2026-0001",
        "cm-retire kschmidt10",
        "done REQ-2026-0001 2",  # then waits for the deletion rule
        "later",
        "later",
        "requests",
        "later",
    ]
    script.write_text("\n".join(lines))
    result = demo("--script", str(script))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count(":alarm_clock: REQ-2026-0001 (erasure) is due") == 2  # thread and DM
    assert out.count(":rotating_light: REQ-2026-0001 (erasure) is overdue") == 2
    digests = [part.split("\n\n")[0] for part in out.split("Open requests by due date")[1:]]
    assert len(digests) == 2 and "overdue by" in digests[-1]
    assert not any("Katarzyna" in d or "kschmidt" in d for d in digests)  # ids only
    assert "`REQ-2026-0001` erasure · :x: failed" in out and "(7 day(s) left)" in out


def test_demo_routes_a_correction_to_its_source(tmp_path):
    script = tmp_path / "script.txt"
    lines = [
        'update sobrien displayName="Seán O Brien" department=Legal -- typo',
        "as UDEMOAPPROVER approve REQ-2026-0001",
        "as UDEMOHR done REQ-2026-0001 1",
        "as UDEMOHR done REQ-2026-0001 2",
        "update sobrien telephoneNumber=1",
    ]
    script.write_text("\n".join(lines))
    result = demo("--script", str(script))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Change displayName in HR (the attribute its import flow reads there)" in out
    assert "the metaverse names no source: manual precedence" in out
    assert "Rectification REQ-2026-0001 completed" in out
    assert "metaverse holds no telephoneNumber" in out
