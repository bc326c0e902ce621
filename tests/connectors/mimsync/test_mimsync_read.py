"""read/show/plan_delete/apply_delete/verify_absent on SQLite and a real PostgreSQL."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.lookup.calls import Outcome
from bot.lookup.show import SystemRecord
from bot.workflow.export_package import build_package
from connectors.base import IdKind, ObjectRef, PlanAction
from connectors.errors import ConnectorError, NotFound
from connectors.lineage import DeletionRuleView
from connectors.mimsync.connector import (
    AttributeKind,
    AttributeView,
    MetaverseView,
    MimSyncConnector,
    MimSyncSettings,
)
from demo import sample_sync as gen
from tests.support.postgres import fresh_database

N = 60
T = 10.0
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

MakeUrl = Callable[[], str]


@pytest.fixture(scope="module", params=BACKENDS)
def make_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> MakeUrl:
    """A factory of empty databases of one backend."""
    if request.param == "sqlite":
        return lambda: f"sqlite:///{tmp_path_factory.mktemp('sync') / 'sync.db'}"
    admin = request.getfixturevalue("postgres_admin_url")
    return lambda: fresh_database(admin)


@pytest.fixture(scope="module")
def engine(make_url: MakeUrl) -> Iterator[sa.Engine]:
    engine = sa.create_engine(make_url())
    gen.load(engine, N)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def mim(engine: sa.Engine) -> Iterator[MimSyncConnector]:
    with MimSyncConnector(MimSyncSettings(url=str(engine.url)), engine=engine) as connector:
        yield connector


@pytest.fixture
def fresh(make_url: MakeUrl) -> Iterator[sa.Engine]:
    """A database of our own, for tests that delete."""
    engine = sa.create_engine(make_url())
    gen.load(engine, 12)
    yield engine
    engine.dispose()


def ref(i: int) -> ObjectRef:
    return ObjectRef("mimsync", str(gen.person(i).object_id))


def attrs(view: MetaverseView) -> dict[str, AttributeView]:
    return {a.name: a for a in view.attributes}


def test_show_reads_single_multi_and_reference_attributes(mim: MimSyncConnector) -> None:
    p = gen.person(1)
    view = mim.show(ref(1), timeout=T)
    a = attrs(view)
    assert view.label == "Seán O'Brien (sobrien)" and view.object_type == "person"
    assert a["lastName"].values == ("O'Brien",) and a["lastName"].kind is AttributeKind.SINGLE
    assert a["extensionCostCentre"].values == ("CC-0001",)
    assert a["extensionBadgeNumber"].values == ("500001",)
    assert a["proxyAddresses"].kind is AttributeKind.MULTI
    assert sorted(a["proxyAddresses"].values) == sorted(p.proxy_addresses)
    assert a["manager"].kind is AttributeKind.REFERENCE
    assert a["manager"].values == ("Zoë Ångström",)  # the target's displayName


def test_show_lists_connectors_with_lineage_and_pending_operations(mim: MimSyncConnector) -> None:
    view = mim.show(ref(1), timeout=T)
    by_ma = {c.ma_name: c for c in view.connectors}
    assert set(by_ma) == {"HR", "CORP AD", "MIM Service", "BHOLD"}
    ad = by_ma["CORP AD"]
    assert (ad.ma_type, ad.rdn, ad.state, ad.joined) == ("AD", "CN=Seán O'Brien", "normal", True)
    assert ad.pending_export == "modify" and ad.pending_import is None
    assert ad.deprovisioning == "delete-object"
    assert by_ma["MIM Service"].pending_export == "add"
    assert by_ma["HR"].ma_type == "Extensible2" and by_ma["HR"].pending_export is None
    assert by_ma["HR"].deprovisioning == "make-normal-disconnector"
    assert ad.lineage_date is not None and ad.lineage_date.tzinfo is UTC


def test_show_lineage_dates_are_per_attribute(mim: MimSyncConnector) -> None:
    a = attrs(mim.show(ref(1), timeout=T))
    assert a["displayName"].modified is not None
    assert a["displayName"].modified.replace(tzinfo=None) == gen.BASE.replace(minute=1, second=7)
    # multi-valued and reference lineage come from their own tables
    assert a["proxyAddresses"].modified.second == 5  # type: ignore[union-attr]
    assert a["manager"].modified.second == 6  # type: ignore[union-attr]


def test_source_of_authority_follows_ranked_precedence(mim: MimSyncConnector) -> None:
    a = attrs(mim.show(ref(1), timeout=T))
    for name in ("firstName", "lastName", "displayName", "employeeID"):
        assert (a[name].source, a[name].precedence) == ("HR", "ranked"), name
    for name in ("mail", "accountName", "proxyAddresses", "manager", "domain"):
        assert a[name].source == "CORP AD", name


def test_source_falls_to_the_next_rank_without_a_connector(mim: MimSyncConnector) -> None:
    contractor = attrs(mim.show(ref(8), timeout=T))  # AD + MIM Service, no HR
    assert contractor["displayName"].source == "CORP AD"
    assert "employeeID" not in contractor
    prehire = attrs(mim.show(ref(7), timeout=T))  # HR only
    assert prehire["accountName"].source == "HR"
    assert "mail" not in prehire


def test_manual_and_equal_precedence(mim: MimSyncConnector) -> None:
    a = attrs(mim.show(ref(1), timeout=T))
    assert a["department"].source is None
    assert a["department"].authority == "manual precedence (rules extension)"
    # equal precedence: the MA whose flow last contributed (lineage GUID)
    assert attrs(mim.show(ref(1), timeout=T))["extensionCostCentre"].source == "HR"
    assert attrs(mim.show(ref(3), timeout=T))["extensionCostCentre"].source == "BHOLD"


def test_read_returns_source_and_lineage_date_per_attribute(mim: MimSyncConnector) -> None:
    record = mim.read(ref(1), timeout=T)
    assert record.ref == ref(1)
    assert record.attributes["displayName"].values == ("Seán O'Brien",)
    assert record.attributes["displayName"].source == "HR"
    assert record.attributes["mail"].source == "CORP AD"
    assert record.attributes["department"].source == "manual precedence (rules extension)"
    assert record.attributes["displayName"].modified is not None
    assert record.modified is not None and record.modified.tzinfo is UTC


def _packaged_sources(view: MetaverseView) -> dict[str, str | None]:
    """The "source" of each attribute in the access package's JSON for `view`."""
    built = build_package(
        request_id="REQ-2026-0001",
        created=datetime(2026, 12, 1, tzinfo=UTC),
        subject_name="Jane Doe",
        systems=[SystemRecord("mimsync", "Metaverse", Outcome.FOUND, lineage=view)],
    )
    with zipfile.ZipFile(io.BytesIO(built.data)) as zf:
        document = json.loads(zf.read("mimsync.json"))
    return {name: a["source"] for name, a in document["attributes"].items()}


def test_read_and_the_access_package_state_the_same_source(mim: MimSyncConnector) -> None:
    for i in (1, 3, 7, 8):
        record = mim.read(ref(i), timeout=T)
        packaged = _packaged_sources(mim.show(ref(i), timeout=T))
        assert packaged == {n: v.source for n, v in record.attributes.items()}, i


@pytest.mark.parametrize(
    ("source", "authority", "precedence", "stated"),
    [
        ("HR", "HR", "ranked", "HR"),
        ("BHOLD", "BHOLD", "equal", "BHOLD"),
        (None, "equal precedence", "equal", "equal precedence"),
        (
            None,
            "manual precedence (rules extension)",
            "manual",
            "manual precedence (rules extension)",
        ),
        # Nothing to name: neither states a source (the package wrote these words before).
        (None, "no import flow", None, None),
        (None, "no connector of a contributing MA", "ranked", None),
    ],
)
def test_the_stated_source_of_each_kind_of_authority(
    source: str | None, authority: str, precedence: str | None, stated: str | None
) -> None:
    a = AttributeView(
        "title", ("Clerk",), AttributeKind.SINGLE, source, authority, precedence, None
    )
    assert a.stated_source == stated
    rule = DeletionRuleView(None, (), "", "")
    view = MetaverseView(ObjectRef("mimsync", "1"), "Jane", "person", None, (a,), (), rule)
    assert _packaged_sources(view) == {"title": stated}


def test_personal_attributes_limit_what_is_read(engine: sa.Engine) -> None:
    settings = MimSyncSettings(url=str(engine.url), personal_attributes=("mail", "MANAGER"))
    with MimSyncConnector(settings, engine=engine) as mim:
        assert set(mim.read(ref(1), timeout=T).attributes) == {"mail", "manager"}


def test_source_of_authority_from_the_exported_folder(engine: sa.Engine, tmp_path: Path) -> None:
    # The folder ranks AD over HR for displayName: proves the folder, not the DB, is read.
    flows = tuple(
        gen.FlowSpec("displayName", "ranked", (("AD", "displayName"), ("HR", "DisplayName")))
        if f.attribute == "displayName"
        else f
        for f in gen.FLOWS
    )
    folder = gen.write_config_dir(tmp_path / "export", flows=flows)
    settings = MimSyncSettings(url=str(engine.url), server_config_dir=folder)
    with MimSyncConnector(settings, engine=engine) as mim:
        a = attrs(mim.show(ref(1), timeout=T))
        assert a["displayName"].source == "CORP AD"
        assert a["firstName"].source == "HR"
        assert a["department"].precedence == "manual"
        assert attrs(mim.show(ref(3), timeout=T))["extensionCostCentre"].source == "BHOLD"
        assert mim.health(timeout=T).ok


def test_deletion_rule_and_its_meaning(mim: MimSyncConnector) -> None:
    rule = mim.show(ref(1), timeout=T).deletion_rule
    assert rule.kind == "declared-any" and rule.management_agents == ("HR",)
    assert rule.trigger == "deleting the HR connector triggers it"
    assert "erase the person in HR first" in rule.meaning


def test_plan_delete_waits_for_the_deletion_rule(mim: MimSyncConnector) -> None:
    plan = mim.plan_delete(ref(1), timeout=T)
    assert plan.action is PlanAction.WAIT
    assert plan.summary == "wait for the deletion rule: deleting the HR connector triggers it"
    assert [r.description for r in plan.residuals] == [
        "metaverse object until the deletion rule runs"
    ]
    assert "CORP AD: a pending export (modify) has not run yet" in [m.detail for m in plan.manual]
    assert "BHOLD keeps its object as a disconnector: erase it there" in [
        m.detail for m in plan.manual
    ]
    assert not any(
        "O'Brien" in w or "sobrien" in w for w in (plan.summary, *(m.detail for m in plan.manual))
    )


def test_plan_delete_warns_when_the_trigger_ma_is_not_joined(mim: MimSyncConnector) -> None:
    plan = mim.plan_delete(ref(8), timeout=T)  # contractor: no HR connector
    assert "no HR connector is joined, so the deletion rule cannot fire" in [
        m.detail for m in plan.manual
    ]


@pytest.mark.parametrize(
    ("deletion", "summary"),
    [
        (
            gen.DeletionSpec("declared-last", exclude_mas=("PAM",)),
            "wait for the deletion rule: removing the last connector triggers it "
            "(PRIV AD connectors do not count)",
        ),
        (
            gen.DeletionSpec("scripted"),
            "wait for the deletion rule: a rules extension (ShouldDeleteFromMV) decides",
        ),
        (
            gen.DeletionSpec("declared-any", src_mas=("HR", "FIM")),
            "wait for the deletion rule: deleting the HR or MIM Service connector triggers it",
        ),
    ],
)
def test_plan_delete_names_the_trigger_of_each_rule_kind(
    engine: sa.Engine, tmp_path: Path, deletion: gen.DeletionSpec, summary: str
) -> None:
    folder = gen.write_config_dir(tmp_path, deletion=deletion)
    settings = MimSyncSettings(url=str(engine.url), server_config_dir=folder)
    with MimSyncConnector(settings, engine=engine) as mim:
        assert mim.plan_delete(ref(0), timeout=T).summary == summary
        assert mim.show(ref(0), timeout=T).deletion_rule.kind == deletion.kind


def test_unknown_object_is_not_found_and_plans_nothing(mim: MimSyncConnector) -> None:
    missing = ObjectRef("mimsync", str(gen.gid("nobody")))
    with pytest.raises(NotFound):
        mim.show(missing, timeout=T)
    with pytest.raises(NotFound):
        mim.plan_delete(missing, timeout=T)
    with pytest.raises(NotFound, match="not a metaverse object id"):
        mim.read(ObjectRef("mimsync", "' OR 1=1 --"), timeout=T)
    with pytest.raises(ConnectorError, match="another system"):
        mim.read(ObjectRef("ad", str(gen.person(1).object_id)), timeout=T)


def identifiers(p: gen.Person) -> dict[IdKind, str]:
    ids = {IdKind.MV_OBJECT_ID: str(p.object_id), IdKind.ACCOUNT: p.account}
    if p.mail:
        ids[IdKind.MAIL] = p.mail
    if p.employee_id:
        ids[IdKind.EMPLOYEE_ID] = p.employee_id
    return ids


def test_apply_and_verify_after_the_deletion_rule_removed_the_object(fresh: sa.Engine) -> None:
    p = gen.person(1)
    with MimSyncConnector(MimSyncSettings(url=str(fresh.url)), engine=fresh) as mim:
        plan = mim.plan_delete(ref(1), timeout=T)
        step = mim.apply_delete(plan, timeout=T)
        assert (step.done, step.already_absent) == (False, False)
        before = mim.verify_absent(identifiers(p), timeout=T)
        assert not before.absent and before.remaining == (ref(1),)

        gen.delete_person(fresh, p)  # what the sync engine's deletion rule does

        step = mim.apply_delete(plan, timeout=T)
        assert (step.done, step.already_absent) == (True, True)
        after = mim.verify_absent(identifiers(p), timeout=T)
        assert after.absent and after.remaining == ()
        assert "run history" in after.residuals[0].description


def test_verify_absent_searches_by_every_identifier(fresh: sa.Engine) -> None:
    p = gen.person(2)
    gen.delete_person(fresh, p)
    with MimSyncConnector(MimSyncSettings(url=str(fresh.url)), engine=fresh) as mim:
        assert mim.verify_absent(identifiers(p), timeout=T).absent
        # Another person still holds one of the identifiers: not absent.
        other = {**identifiers(p), IdKind.EMPLOYEE_ID: gen.person(3).employee_id or ""}
        result = mim.verify_absent(other, timeout=T)
        assert not result.absent and result.remaining == (ref(3),)
        nothing = mim.verify_absent({IdKind.OBJECT_GUID: "x"}, timeout=T)
        assert not nothing.absent and "no identifier" in nothing.detail


def test_verify_absent_polls_until_the_object_is_gone(fresh: sa.Engine) -> None:
    p = gen.person(4)
    settings = MimSyncSettings(url=str(fresh.url), delete_wait_timeout_s=10, poll_interval_s=0.1)
    timer = threading.Timer(0.5, gen.delete_person, (fresh, p))
    timer.start()
    try:
        with MimSyncConnector(settings, engine=fresh) as mim:
            assert mim.verify_absent(identifiers(p), timeout=T).absent
    finally:
        timer.join()


def test_verify_absent_gives_up_after_the_wait(fresh: sa.Engine) -> None:
    settings = MimSyncSettings(url=str(fresh.url), delete_wait_timeout_s=0.3, poll_interval_s=0.1)
    with MimSyncConnector(settings, engine=fresh) as mim:
        result = mim.verify_absent(identifiers(gen.person(5)), timeout=T)
    assert not result.absent and "deletion rule has not run" in result.detail
