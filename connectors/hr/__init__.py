"""The HR source of authority: a SQL table or view (sql) or a folder of CSV exports
(csv_files), both read through one column mapping (mapping). For retention sweeps both
kinds find the leavers past an end date (`finds_stale`, Population.ENDED) and the rows on
hold in a column (`knows_holds`) (sweeps)."""

from typing import Annotated, Any

from pydantic import BeforeValidator, Discriminator, Tag

from connectors.base import Connector
from connectors.hr.csv_files import HrCsvConnector, HrCsvSettings
from connectors.hr.mapping import HrMapping
from connectors.hr.sql import HrConnector, HrSettings
from connectors.spec import ConnectorSpec, SystemWords

__all__ = ["SPEC", "HrConnector", "HrCsvConnector", "HrCsvSettings", "HrMapping", "HrSettings"]

# app.yaml writes the mapping's settings flat in the section (key, identifiers, columns,
# search_columns): they are HrMapping's fields, gathered into `mapping`.
_MAPPING_FIELDS = tuple(HrMapping.__dataclass_fields__)


def _gather_mapping(section: Any) -> Any:
    if not isinstance(section, dict) or "mapping" in section:
        return section
    mapping = {k: section[k] for k in _MAPPING_FIELDS if k in section}
    return {k: v for k, v in section.items() if k not in _MAPPING_FIELDS} | {"mapping": mapping}


def _kind(section: Any) -> str:
    kind = section.get("kind", "sql") if isinstance(section, dict) else section.kind
    return f"kind {kind}"  # a tag named "kind ..." (bot/config/loading.py words its errors)


# `kind: sql` (the default) reads a table or view, `kind: csv` a folder of export files.
HrSection = Annotated[
    Annotated[HrSettings, Tag("kind sql")] | Annotated[HrCsvSettings, Tag("kind csv")],
    Discriminator(_kind),
    BeforeValidator(_gather_mapping),
]


def build(settings: HrSettings | HrCsvSettings) -> Connector:
    if isinstance(settings, HrCsvSettings):
        return HrCsvConnector(settings)
    return HrConnector(settings)


SPEC = ConnectorSpec(
    name="hr",
    settings=HrSection,
    build=build,
    words=SystemWords(
        purpose="Your employment record: who you are, your job and your contract.",
        source="Entered by HR when you joined and kept up to date by HR.",
        authority=(
            "HR is the source of authority: the other systems take your name, employee number"
            " and job from it."
        ),
        retention="As long as you work here, then as employment law requires.",
    ),
    authority=0,
)
