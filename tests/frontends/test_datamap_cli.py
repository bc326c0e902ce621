"""`python -m bot datamap` as an IAM engineer runs it: Markdown on stdout, any format to a
file, `--since` an earlier JSON map listing what changed, audited; the demo's console
answers `datamap` too."""

from __future__ import annotations

import json

import sqlalchemy as sa

from tests.frontends.test_cli import ENV, demo, run, write_config


def hr_estate(tmp_path):
    from demo.hr_sample import Employee, create_table

    hr_url = f"sqlite:///{tmp_path / 'hr.db'}"
    engine = sa.create_engine(hr_url)
    create_table(engine, [Employee("1", "jdoe", "Jane Doe", "jdoe@example.test")])
    engine.dispose()
    config = write_config(
        tmp_path,
        f"""
datamap: {{controller: "Contoso Ltd", external: []}}
connectors:
  hr: {{url: "{hr_url}", table: employees, key: emp_no, columns: ["*"],
        identifiers: {{employee_id: emp_no, account: login, mail: email}}}}
""",
    )
    return config, hr_url


def test_markdown_on_stdout_json_to_a_file_and_what_changed_since(tmp_path):
    config, hr_url = hr_estate(tmp_path)
    shown = run("--config", str(config), "datamap", env=ENV)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("# Data map")
    assert "| HR | hr | bot connector | SQL (SQLAlchemy, sqlite) table employees |" in shown.stdout
    assert "jdoe" not in shown.stdout and "Jane" not in shown.stdout
    earlier = tmp_path / "map.json"
    written = run(
        "--config", str(config), "datamap", "--format", "json", "--out", str(earlier), env=ENV
    )
    assert written.returncode == 0 and written.stdout == ""
    assert json.loads(earlier.read_text())["systems"][0]["label"] == "HR"
    same = run("--config", str(config), "datamap", "--since", str(earlier), env=ENV)
    assert (same.returncode, same.stdout) == (0, "no change\n")
    engine = sa.create_engine(hr_url)
    with engine.begin() as conn:  # HR starts to hold a salary
        conn.exec_driver_sql("ALTER TABLE employees ADD COLUMN salary INTEGER")
    engine.dispose()
    changed = run("--config", str(config), "datamap", "--since", str(earlier), env=ENV)
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout == "attribute: new: salary in HR\n"
    audit = sa.create_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    with audit.connect() as conn:
        actions = [r[0] for r in conn.exec_driver_sql("SELECT action FROM audit_events")]
    audit.dispose()
    assert actions.count("datamap_generated") == 4


def test_the_html_map_carries_its_diagram_and_a_bad_since_file_is_one_line(tmp_path):
    config, _ = hr_estate(tmp_path)
    page = tmp_path / "map.html"
    made = run("--config", str(config), "datamap", "--format", "html", "--out", str(page), env=ENV)
    assert made.returncode == 0, made.stderr
    assert "<svg" in page.read_text()
    bad = tmp_path / "not-a-map.json"
    bad.write_text('{"hello": 1}')
    refused = run("--config", str(config), "datamap", "--since", str(bad), env=ENV)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"datamap --since: {bad}: not a data map written by mimbot (KeyError)"
    ]


def test_the_demo_console_answers_datamap():
    script_lines = "datamap\n"
    result = demo("--script", "/dev/stdin", stdin=script_lines)
    assert result.returncode == 0, result.stderr
    assert "[DM to UDEMOADMIN, files] The estate's data map" in result.stdout
    assert "| MIM Sync metaverse | mimsync | metaverse |" in result.stdout
