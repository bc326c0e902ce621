"""The authorisation policy (bot/permissions/authz.py), table by table: every command by
role for the gate, every request rule by role, own/other request and status, and app.yaml overrides.

The expected tables are written out here by hand: they are the policy as reviewed, not a
copy of the module's tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.errors import ConfigError, NotAllowed
from bot.permissions.authz import DEFAULT_PERMISSIONS, Authorizer
from bot.permissions.roles import Actor, Role
from bot.workflow.requests import Request, Status, Step, StepState, Subject
from connectors.base import PlanAction

ME, SOMEONE_ELSE = "UACTOR", "UOTHER"

# The columns of every table below: the roles an actor holds.
ACTORS: dict[str, frozenset[Role]] = {
    "none": frozenset(),
    "viewer": frozenset({Role.VIEWER}),
    "exporter": frozenset({Role.EXPORTER}),
    "requester": frozenset({Role.REQUESTER}),
    "approver": frozenset({Role.APPROVER}),
    "auditor": frozenset({Role.AUDITOR}),
    "admin": frozenset({Role.ADMIN}),
    "req+appr": frozenset({Role.REQUESTER, Role.APPROVER}),
}
COLUMNS = tuple(ACTORS)


def actor(kind: str) -> Actor:
    return Actor(ME, ACTORS[kind])


def request(status: Status, requester: str) -> Request:
    received = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
    return Request(
        id="REQ-2026-0001",
        kind="erasure",
        status=status,
        version=1,
        requester=requester,
        reason="left in 2024",
        received_at=received,
        due_at=received + timedelta(days=31),
        expires_at=received + timedelta(hours=72),
        subject_keys=("k1",),
        subject=Subject(display_name="Jane Doe", account="jdoe"),
        approvals_needed=1,
    )


def step(assigned_role: str | None) -> Step:
    return Step(
        request_id="REQ-2026-0001",
        seq=2,
        system="hr",
        action=PlanAction.MANUAL,
        summary="Erase Jane Doe in HR, the source of authority",
        state=StepState.PENDING,
        attempts=0,
        assigned_role=assigned_role,
    )


def expand(table: dict) -> list:
    """Rows of `key: "cell cell ..."` (one cell per ACTORS column) → one case per cell."""
    cases = []
    for key, row in table.items():
        cells = row.split()
        assert len(cells) == len(COLUMNS), key
        cases.extend((*key, kind, cell) for kind, cell in zip(COLUMNS, cells, strict=True))
    return cases


# -- the command gate ---------------------------------------------------------------

# command: may each ACTORS column run it? (1 yes, 0 no)
#              none viewer exporter requester approver auditor admin req+appr
GATE = {
    ("help",):     "1    1      1        1         1        1       1     1",
    ("find",):     "0    1      0        0         0        0       1     0",
    ("show",):     "0    1      0        0         0        0       1     0",
    ("retention",): "0   1      0        0         0        0       1     0",
    ("export",):   "0    0      1        0         0        0       1     0",
    ("delete",):   "0    0      0        1         0        0       1     1",
    ("update",):   "0    0      0        1         0        0       1     1",
    ("status",):   "0    0      1        1         1        1       1     1",
    ("requests",): "0    0      1        1         1        1       1     1",
    ("approve",):  "0    0      0        0         1        0       1     1",
    ("reject",):   "0    0      0        0         1        0       1     1",
    ("retry",):    "0    0      0        0         1        0       1     1",
    ("cancel",):   "0    0      0        1         1        0       1     1",
    ("extend",):   "0    0      0        0         1        0       1     1",
    ("done",):     "0    0      1        1         1        1       1     1",
    ("check",):    "0    0      0        0         0        0       1     0",
    ("telemetry",): "0   0      0        0         0        0       1     0",
    ("doctor",):   "0    0      0        0         0        0       1     0",
    ("datamap",):  "0    0      0        0         0        0       1     0",
    ("sweep",):    "0    0      0        1         0        0       1     1",
    ("hold",):     "0    0      0        0         1        0       1     1",
    ("unhold",):   "0    0      0        0         1        0       1     1",
    ("drop",):     "0    0      0        0         1        0       1     1",
    ("pause",):    "0    0      0        0         1        0       1     1",
    ("resume",):   "0    0      0        0         1        0       1     1",
    ("shutdown",): "0    0      0        0         0        0       1     0",  # unknown command
}  # fmt: skip


def test_the_gate_table_covers_every_command():
    assert {c for (c,) in GATE} == set(DEFAULT_PERMISSIONS) | {"shutdown"}


@pytest.mark.parametrize(("command", "kind", "expected"), expand(GATE))
def test_command_gate(command, kind, expected):
    authz = Authorizer(DEFAULT_PERMISSIONS)
    assert authz.may(actor(kind), command) is (expected == "1")
    if expected == "1":
        authz.require(actor(kind), command)
    else:
        with pytest.raises(NotAllowed, match=f"^Sorry, /mim {command} needs the "):
            authz.require(actor(kind), command)


@pytest.mark.parametrize(
    ("command", "text"),
    [
        ("find", "Sorry, /mim find needs the viewer role. Ask your IAM team if you should have"),
        ("cancel", "Sorry, /mim cancel needs the approver or requester roles. Ask your IAM team"),
        (
            "status",
            "Sorry, /mim status needs the approver or auditor or exporter or requester roles.",
        ),
        ("shutdown", "Sorry, /mim shutdown needs the admin role."),
    ],
)
def test_gate_refusal_names_the_roles_in_plain_text(command, text):
    with pytest.raises(NotAllowed) as refused:
        Authorizer(DEFAULT_PERMISSIONS).require(actor("none"), command)
    assert str(refused.value).startswith(text)


# -- the request rules --------------------------------------------------------------

ANY = (Status.AWAITING_APPROVAL, Status.RUNNING, Status.FAILED, Status.COMPLETED)
AWAITING = (Status.AWAITING_APPROVAL,)
FAILED = (Status.FAILED,)
UNDECIDED = (Status.PLANNED, Status.AWAITING_APPROVAL)
OPEN = (Status.PLANNED, Status.AWAITING_APPROVAL, Status.RUNNING)
# Statuses no one can cancel: the who-rule passes, the domain raises RequestStateError.
LATER = (Status.APPROVED, Status.RUNNING, Status.VERIFYING, Status.COMPLETED)
ON, OFF = True, False

# (rule, statuses, four_eyes): a cell per ACTORS column, "own other" as two letters:
# Y allowed, N NotAllowed, on the actor's own request and on someone else's.
#                                 none viewer exporter requester approver auditor admin req+appr
RULES = {
    ("view",   ANY,       ON):  "YN   YN     YN       YN        YY       YY      YY    YY",
    ("view",   ANY,       OFF): "YN   YN     YN       YN        YY       YY      YY    YY",
    ("decide", AWAITING,  ON):  "NN   NN     NN       NN        NY       NN      NN    NY",
    ("decide", AWAITING,  OFF): "NN   NN     NN       NN        YY       NN      NN    YY",
    ("retry",  FAILED,    ON):  "NN   NN     NN       NN        NY       NN      NN    NY",
    ("retry",  FAILED,    OFF): "NN   NN     NN       NN        YY       NN      NN    YY",
    ("extend", OPEN,      ON):  "NN   NN     NN       NN        NY       NN      NN    NY",
    ("extend", OPEN,      OFF): "NN   NN     NN       NN        YY       NN      NN    YY",
    ("cancel", UNDECIDED, ON):  "YN   YN     YN       YN        YY       YN      YN    YY",
    ("cancel", UNDECIDED, OFF): "YN   YN     YN       YN        YY       YN      YN    YY",
    ("cancel", FAILED,    ON):  "NN   NN     NN       NN        NY       NN      NN    NY",
    ("cancel", FAILED,    OFF): "NN   NN     NN       NN        YY       NN      NN    YY",
    ("cancel", LATER,     ON):  "YN   YN     YN       YN        YY       YN      YN    YY",
    ("cancel", LATER,     OFF): "YN   YN     YN       YN        YY       YN      YN    YY",
}  # fmt: skip


def rule_cases() -> list:
    cases = []
    for rule, statuses, four_eyes, kind, cell in expand(RULES):
        for status in statuses:
            for owner, expected in ((ME, cell[0]), (SOMEONE_ELSE, cell[1])):
                whose = "own" if owner == ME else "other"
                cases.append(
                    pytest.param(
                        rule, status, four_eyes, kind, owner, expected == "Y",
                        id=f"{rule}-{status.value}-{'4eyes' if four_eyes else '2eyes'}"
                        f"-{kind}-{whose}",
                    )
                )  # fmt: skip
    return cases


def check(authz: Authorizer, rule: str, who: Actor, req: Request) -> None:
    getattr(authz, f"require_{rule}")(who, req)


@pytest.mark.parametrize(("rule", "status", "four_eyes", "kind", "owner", "allowed"), rule_cases())
def test_request_rule(rule, status, four_eyes, kind, owner, allowed):
    authz = Authorizer(DEFAULT_PERMISSIONS, four_eyes=four_eyes)
    req = request(status, owner)
    if allowed:
        check(authz, rule, actor(kind), req)
    else:
        with pytest.raises(NotAllowed):
            check(authz, rule, actor(kind), req)


#                  none viewer exporter requester approver auditor admin req+appr
SEES_ALL = "       N    N      N        N         Y        Y       Y     Y"


@pytest.mark.parametrize(("kind", "expected"), zip(COLUMNS, SEES_ALL.split(), strict=True))
def test_sees_all(kind, expected):
    assert Authorizer(DEFAULT_PERMISSIONS).sees_all(actor(kind)) is (expected == "Y")


# step's assigned_role: may each ACTORS column mark it done? (own/other does not apply)
#                        none viewer exporter requester approver auditor admin req+appr
STEP_DONE = {
    (None,):           "N    N      N        Y         N        N       Y     Y",
    ("requester",):    "N    N      N        Y         N        N       Y     Y",
    ("approver",):     "N    N      N        N         Y        N       Y     Y",
    ("auditor",):      "N    N      N        N         N        Y       Y     N",
    ("viewer",):       "N    Y      N        N         N        N       Y     N",
    ("no-such-role",): "N    N      N        N         N        N       Y     N",
}  # fmt: skip


@pytest.mark.parametrize(("assigned", "kind", "expected"), expand(STEP_DONE))
def test_step_done(assigned, kind, expected):
    authz = Authorizer(DEFAULT_PERMISSIONS)
    if expected == "Y":
        authz.require_step_done(actor(kind), step(assigned))
    else:
        with pytest.raises(NotAllowed, match=f"^Step 2 is for the {assigned or 'requester'} role"):
            authz.require_step_done(actor(kind), step(assigned))


@pytest.mark.parametrize(
    ("rule", "status", "owner", "kind", "text"),
    [
        ("view", Status.RUNNING, SOMEONE_ELSE, "requester", "your own requests only"),
        ("decide", Status.AWAITING_APPROVAL, ME, "requester", "Only the approver role"),
        ("decide", Status.AWAITING_APPROVAL, ME, "approver", "another approver must decide it"),
        ("decide", Status.AWAITING_APPROVAL, SOMEONE_ELSE, "admin", "Only the approver role"),
        ("retry", Status.FAILED, SOMEONE_ELSE, "admin", "Retry needs the approver role"),
        ("retry", Status.FAILED, ME, "approver", "another approver must retry it"),
        ("extend", Status.RUNNING, ME, "approver", "another approver must extend it"),
        ("extend", Status.RUNNING, SOMEONE_ELSE, "admin", "Extending a due date needs the"),
        ("cancel", Status.AWAITING_APPROVAL, SOMEONE_ELSE, "requester", "the requester or an"),
        ("cancel", Status.FAILED, ME, "requester", "Only an approver can cancel a failed"),
        ("cancel", Status.FAILED, ME, "approver", "another approver must close it"),
    ],
)
def test_request_refusals_say_why(rule, status, owner, kind, text):
    with pytest.raises(NotAllowed, match=text):
        check(Authorizer(DEFAULT_PERMISSIONS), rule, actor(kind), request(status, owner))


def test_refusals_carry_no_slack_markup():
    """Every refusal any table above can produce is plain text; the front end formats."""
    authz = Authorizer(DEFAULT_PERMISSIONS)
    texts = set()
    for kind in COLUMNS:
        for command in [*DEFAULT_PERMISSIONS, "shutdown"]:
            try:
                authz.require(actor(kind), command)
            except NotAllowed as e:
                texts.add(str(e))
        for rule in ("view", "decide", "retry", "extend", "cancel"):
            for status in Status:
                for owner in (ME, SOMEONE_ELSE):
                    try:
                        check(authz, rule, actor(kind), request(status, owner))
                    except NotAllowed as e:
                        texts.add(str(e))
        for assigned in (None, "approver", "no-such-role"):
            try:
                authz.require_step_done(actor(kind), step(assigned))
            except NotAllowed as e:
                texts.add(str(e))
    assert len(texts) > 10
    for text in texts:
        assert not {"*", "`", "<", ">", "_"} & set(text.replace("/mim", "")), text


# -- configuration --------------------------------------------------------------------


def test_from_config_without_overrides_is_the_default():
    authz = Authorizer.from_config(None, four_eyes=True)
    assert dict(authz.permissions) == dict(DEFAULT_PERMISSIONS)
    assert authz.four_eyes


def test_anyone_lifts_the_check():
    authz = Authorizer.from_config({"find": "anyone"}, four_eyes=True)
    assert authz.may(actor("none"), "find")
    assert not authz.may(actor("none"), "show")


def test_a_list_of_roles_replaces_the_default():
    authz = Authorizer.from_config({"delete": ["approver"]}, four_eyes=True)
    assert authz.may(actor("approver"), "delete")
    assert not authz.may(actor("requester"), "delete")
    assert authz.may(actor("admin"), "delete")
    assert authz.may(actor("requester"), "cancel")  # other commands keep their defaults
    assert DEFAULT_PERMISSIONS["delete"] == {Role.REQUESTER}  # the defaults are not touched


def test_a_single_role_name_is_accepted():
    authz = Authorizer.from_config({"status": "auditor"}, four_eyes=True)
    assert authz.may(actor("auditor"), "status")
    assert not authz.may(actor("requester"), "status")


def test_unknown_role_stops_start_up():
    with pytest.raises(ConfigError, match="permissions: unknown role 'wizard'"):
        Authorizer.from_config({"find": ["viewer", "wizard"]}, four_eyes=True)


def test_four_eyes_comes_from_policy():
    own = request(Status.AWAITING_APPROVAL, ME)
    Authorizer.from_config(None, four_eyes=False).require_decide(actor("approver"), own)
    with pytest.raises(NotAllowed):
        Authorizer.from_config(None, four_eyes=True).require_decide(actor("approver"), own)
    with pytest.raises(NotAllowed):
        Authorizer(DEFAULT_PERMISSIONS).require_decide(actor("approver"), own)  # on by default


def test_the_privacy_officer_reads_the_data_map_and_nothing_else():
    # The Art. 30 record names no person: the privacy officer needs no role that does.
    authz = Authorizer(DEFAULT_PERMISSIONS)
    officer = Actor(ME, frozenset({Role.PRIVACY_OFFICER}))
    assert {c for c in DEFAULT_PERMISSIONS if authz.may(officer, c)} == {"help", "datamap"}
