"""`python -m bot doctor` and `python -m demo doctor` as an IAM engineer runs them on day
one: every check printed, the exit code by the worst verdict, nothing written anywhere
(not even the bot's own audit store)."""

from __future__ import annotations

import sqlalchemy as sa

from tests.frontends.test_cli import ENV, demo, run, write_config


def hr_config(tmp_path, table: str) -> tuple:
    from demo.hr_sample import Employee, create_table

    hr_url = f"sqlite:///{tmp_path / 'hr.db'}"
    engine = sa.create_engine(hr_url)
    create_table(engine, [Employee("1", "jdoe", "Jane Doe", "jdoe@example.test")])
    engine.dispose()
    config = write_config(
        tmp_path,
        f"""
connectors:
  hr: {{url: "{hr_url}", table: {table}, key: emp_no,
        identifiers: {{employee_id: emp_no, account: login, mail: email}}}}
""",
    )
    return config, tmp_path / "audit.db"


def test_doctor_over_a_sound_system_exits_0_and_writes_nothing(tmp_path):
    config, audit_db = hr_config(tmp_path, "employees")
    result = run("--config", str(config), "doctor", env=ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "HR (hr): ok" in result.stdout
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("1 system(s) checked:") and "wrong" not in last
    assert "jdoe" not in result.stdout and "Jane" not in result.stdout
    assert not audit_db.exists()  # doctor opens no audit store


def test_doctor_names_a_broken_system_and_exits_non_zero(tmp_path):
    config, audit_db = hr_config(tmp_path, "staff")  # no such table
    result = run("--config", str(config), "doctor", env=ENV)
    assert result.returncode in (1, 3), result.stdout + result.stderr
    assert "HR (hr): ok" not in result.stdout
    assert "fix:" in result.stdout
    assert not audit_db.exists()


def test_the_demo_estate_passes_every_check():
    result = demo("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [
        line for line in result.stdout.splitlines() if line.startswith("  ") and "fix:" not in line
    ]
    assert lines and all(line.split()[0] == "ok" for line in lines), result.stdout
    assert "WRONG" not in result.stdout and "cannot tell" not in result.stdout


def test_doctor_at_the_demo_console_is_for_admins(tmp_path):
    script = tmp_path / "script.txt"
    script.write_text("doctor\nas UDEMOVIEW doctor\n")
    result = demo("--script", str(script))
    assert result.returncode == 0, result.stderr
    assert "8 system(s) checked:" in result.stdout  # seven systems and the CEIP settings
    assert "Sorry, /mim doctor needs the admin role" in result.stdout
