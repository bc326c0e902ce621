"""Source of authority and deletion rules from the MIM Sync server configuration.

Two inputs carry the same XML: an exported server configuration folder and the
`mms_server_configuration` / `mms_management_agent` rows of the sync database.
`svrexport` writes `MV.XML` plus one file per management agent named by the MA's
GUID (SVR: "Importing and exporting a server configuration", learn.microsoft.com
previous-versions/mim/jj590279); MIMDSC's Format-MimSynchronizationConfigurationFiles.ps1
renames them `Connector_<name>.xml`, and people keep `MA-<name>.XML` copies. So an MA
file is any `*.xml` but MV.XML whose root holds `<ma-data>`, whatever its name.
Elements are matched by local name, so the DSML namespaces of the schema parts
(or a default namespace an exporter may add) do not matter.

The XML is the sync server's own configuration, read from a folder the
operator points to or from the database; the standard-library parser is used
(Python's expat refuses entity-expansion bombs and does not fetch external
entities).
"""

from __future__ import annotations

import enum
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from connectors.errors import ConnectorError
from connectors.lineage import DeletionKind, PrecedenceKind

__all__ = [
    "Authority",
    "ConfigFolder",
    "DeletionKind",
    "DeletionRule",
    "Deprovisioning",
    "ExportFlowRule",
    "ExportMapping",
    "ImportFlow",
    "ManagementAgent",
    "MvSchema",
    "Precedence",
    "PrecedenceKind",
    "SyncConfig",
    "SyncConfigError",
    "database_agent",
    "deletion_meaning",
    "deletion_trigger",
    "load_config_dir",
    "mv_schema_of",
    "parse_database_config",
    "parse_export_flows",
    "parse_mv_schema",
    "read_config_dir",
]


class SyncConfigError(ConnectorError):
    """The server configuration XML is missing or malformed (message names the file/part)."""


class Deprovisioning(enum.Enum):
    """What an MA does with its connector when the MV object is deleted."""

    DELETE_OBJECT = "delete-object"
    MAKE_NORMAL_DISCONNECTOR = "make-normal-disconnector"
    MAKE_EXPLICIT_DISCONNECTOR = "make-explicit-disconnector"
    SCRIPTED = "scripted"


@dataclass(frozen=True)
class ImportFlow:
    ma_id: uuid.UUID
    cd_object_type: str
    flow_id: uuid.UUID | None
    mapping: str  # direct-mapping, scripted-mapping, constant-mapping, sync-rule-mapping, ...
    lineage_ids: frozenset[uuid.UUID] = frozenset()  # ids a lineage GUID may carry
    # Connector-space attributes the flow reads (`<src-attribute>`s, document order);
    # () for a constant mapping or when the XML names none.
    source_attributes: tuple[str, ...] = ()
    # Those of them marked intrinsic="true" (dn, object-id): not attributes one can write.
    intrinsic_sources: frozenset[str] = frozenset()

    @property
    def single_direct_source(self) -> str | None:
        """The one attribute a direct mapping copies unchanged, else None.

        Only then can a change of the MV attribute be written back under the
        connector-space name; scripted, constant, sync-rule and multi-source flows
        transform or combine values, so no name can be followed safely.
        """
        if self.mapping != "direct-mapping" or len(self.source_attributes) != 1:
            return None
        (name,) = self.source_attributes
        return None if name in self.intrinsic_sources else name


@dataclass(frozen=True)
class Precedence:
    mv_attribute: str
    kind: PrecedenceKind
    flows: tuple[ImportFlow, ...]  # for RANKED: highest precedence first


@dataclass(frozen=True)
class DeletionRule:
    mv_object_type: str
    kind: DeletionKind
    src_mas: tuple[uuid.UUID, ...] = ()
    exclude_mas: tuple[uuid.UUID, ...] = ()


class ExportMapping(enum.StrEnum):
    """How an export flow computes the connected system's value: the `<export-flow>`'s one
    mapping element without "-mapping" (MIMDSC MimSyncExportAttributeFlowRule.schema.mof
    declares direct, scripted and constant; its Get-MimSyncExportAttributeFlow.ps1 also
    reads the sync-rule mapping a declarative rule writes)."""

    DIRECT = "direct"
    SCRIPTED = "scripted"
    CONSTANT = "constant"
    SYNC_RULE = "sync-rule"


@dataclass(frozen=True)
class ExportFlowRule:
    """One `<export-flow>` of an MA: metaverse attribute(s) -> `cd_attribute` of
    `cd_object_type`, for metaverse objects of `mv_object_type`."""

    ma_id: uuid.UUID
    mv_object_type: str
    cd_object_type: str
    cd_attribute: str
    mapping: ExportMapping
    # The metaverse attributes read (`<src-attribute>`s, document order, intrinsic ones
    # such as object-id included); () for a constant mapping.
    src_attributes: tuple[str, ...] = ()
    flow_id: uuid.UUID | None = None
    suppress_deletions: bool = False
    # Those of them marked intrinsic="true" (object-id): the object's, not attributes.
    intrinsic_sources: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ManagementAgent:
    ma_id: uuid.UUID
    name: str
    ma_type: str | None = None
    deprovisioning: Deprovisioning | None = None
    # What an administrator wrote about it (`<description>`, `ma_description`); None if blank.
    description: str | None = None
    # Its export attribute flows, where they were read (an MA file, or the
    # `export_attribute_flow_xml` column); () when none are configured or none were read.
    exports: tuple[ExportFlowRule, ...] = ()


@dataclass(frozen=True)
class Authority:
    """Who is authoritative for one attribute of one object."""

    ma_name: str | None  # None when no MA can be named
    kind: PrecedenceKind | None  # None: no import flow for the attribute
    text: str  # short, human: "HR", "equal precedence", "manual precedence (rules extension)"
    # The authoritative flow's connector-space attribute when it is a direct mapping of
    # exactly one attribute (MV firstName <- AD givenName: "givenName"); None otherwise.
    source_attribute: str | None = None


@dataclass(frozen=True)
class SyncConfig:
    """Precedence, deletion rules and MAs, keyed case-insensitively by object type/attribute."""

    precedence: Mapping[str, Mapping[str, Precedence]] = field(default_factory=dict)
    deletion_rules: Mapping[str, DeletionRule] = field(default_factory=dict)
    mas: Mapping[uuid.UUID, ManagementAgent] = field(default_factory=dict)

    def ma_name(self, ma_id: uuid.UUID) -> str:
        ma = self.mas.get(ma_id)
        return ma.name if ma else f"MA {{{str(ma_id).upper()}}}"

    def deletion_rule(self, object_type: str) -> DeletionRule | None:
        return self.deletion_rules.get(object_type.lower())

    def precedence_for(self, object_type: str, attribute: str) -> Precedence | None:
        return self.precedence.get(object_type.lower(), {}).get(attribute.lower())

    def authority(
        self,
        object_type: str,
        attribute: str,
        connected: Iterable[uuid.UUID],
        lineage_id: uuid.UUID | None = None,
    ) -> Authority:
        """The authoritative MA for `attribute` of an object joined to the `connected` MAs.

        Ranked: the highest-ranked flow whose MA has a connector for the object.
        Equal: the MA whose flow last contributed (`lineage_id`), if that is known.
        Manual: the rules extension decides; no MA can be named from configuration.
        """
        rule = self.precedence_for(object_type, attribute)
        if rule is None:
            return Authority(None, None, "no import flow")
        if rule.kind is PrecedenceKind.MANUAL:
            return Authority(None, rule.kind, "manual precedence (rules extension)")
        if rule.kind is PrecedenceKind.EQUAL:
            flow = _flow_for_lineage(rule, lineage_id)
            if flow is None:
                return Authority(None, rule.kind, "equal precedence")
            name = self.ma_name(flow.ma_id)
            return Authority(name, rule.kind, name, flow.single_direct_source)
        joined = set(connected)
        for flow in rule.flows:
            if flow.ma_id in joined:
                name = self.ma_name(flow.ma_id)
                return Authority(name, rule.kind, name, flow.single_direct_source)
        return Authority(None, rule.kind, "no connector of a contributing MA")


def _flow_for_lineage(rule: Precedence, lineage_id: uuid.UUID | None) -> ImportFlow | None:
    if lineage_id is None:
        return None
    return next((f for f in rule.flows if lineage_id in f.lineage_ids), None)


def _local(tag: object) -> str:
    """Element name without its namespace ("{ns}name" -> "name"); comments have no str tag."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _iter(root: ET.Element, name: str) -> Iterator[ET.Element]:
    return (e for e in root.iter() if _local(e.tag) == name)


def _children(elem: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in elem if _local(e.tag) == name]


def _text(elem: ET.Element, name: str) -> str | None:
    found = _children(elem, name)
    return (found[0].text or "").strip() if found else None


def _guid(text: str | None, where: str) -> uuid.UUID:
    try:
        return uuid.UUID((text or "").strip().strip("{}"))
    except ValueError as exc:
        raise SyncConfigError(f"{where}: not a GUID") from exc


def _parse(data: bytes | str, where: str) -> ET.Element:
    try:
        # Trusted input (the sync server's own export/DB); see the module docstring.
        return ET.fromstring(data)  # noqa: S314
    except ET.ParseError as exc:
        raise SyncConfigError(f"{where}: not well-formed XML ({exc})") from exc


def parse_import_flows(root: ET.Element, where: str) -> dict[str, dict[str, Precedence]]:
    """`<import-flow-set>`s anywhere under `root` -> {object type: {attribute: Precedence}}."""
    result: dict[str, dict[str, Precedence]] = {}
    for flow_set in _iter(root, "import-flow-set"):
        object_type = flow_set.get("mv-object-type", "")
        per_type = result.setdefault(object_type.lower(), {})
        for flows in _children(flow_set, "import-flows"):
            attribute = flows.get("mv-attribute", "")
            try:
                kind = PrecedenceKind(flows.get("type", "ranked"))
            except ValueError as exc:
                raise SyncConfigError(f"{where}: unknown precedence type") from exc
            parsed = tuple(_import_flow(f, where) for f in _children(flows, "import-flow"))
            per_type[attribute.lower()] = Precedence(attribute, kind, parsed)
    return result


def _import_flow(elem: ET.Element, where: str) -> ImportFlow:
    flow_id = _guid(elem.get("id"), where) if elem.get("id") else None
    mapping_elem = next((c for c in elem if _local(c.tag).endswith("-mapping")), None)
    mapping = _local(mapping_elem.tag) if mapping_elem is not None else ""
    sources = _source_attributes(mapping_elem)
    lineage = {flow_id} if flow_id else set()
    # Declarative (sync rule) flows record the sync rule / mapping id as lineage.
    for child in _children(elem, "sync-rule-mapping"):
        for key in ("sync-rule-id", "sync-rule-mapping-id"):
            if child.get(key):
                lineage.add(_guid(child.get(key), where))
    return ImportFlow(
        ma_id=_guid(elem.get("src-ma"), where),
        cd_object_type=elem.get("cd-object-type", ""),
        flow_id=flow_id,
        mapping=mapping,
        lineage_ids=frozenset(lineage),
        source_attributes=tuple(name for name, _ in sources),
        intrinsic_sources=frozenset(name for name, intrinsic in sources if intrinsic),
    )


def _source_attributes(mapping: ET.Element | None) -> list[tuple[str, bool]]:
    """(name, intrinsic) of the `<src-attribute>` children of a mapping, in document order.

    Direct and scripted mappings list what they read; a sync-rule mapping lists its
    sources when the exporter wrote them (an expression may name none: then nothing);
    a constant mapping reads nothing. Empty elements name nothing and are skipped.
    """
    if mapping is None or _local(mapping.tag) == "constant-mapping":
        return []
    found = []
    for src in _children(mapping, "src-attribute"):
        name = (src.text or "").strip()
        if name:
            found.append((name, (src.get("intrinsic") or "").strip().lower() == "true"))
    return found


def parse_deletion_rules(root: ET.Element, where: str) -> dict[str, DeletionRule]:
    """`<mv-deletion-rule>`s anywhere under `root` -> {object type: DeletionRule}."""
    rules: dict[str, DeletionRule] = {}
    for elem in _iter(root, "mv-deletion-rule"):
        try:
            kind = DeletionKind(elem.get("type", ""))
        except ValueError as exc:
            raise SyncConfigError(f"{where}: unknown deletion rule type") from exc
        object_type = elem.get("mv-object-type", "")
        rules[object_type.lower()] = DeletionRule(
            mv_object_type=object_type,
            kind=kind,
            src_mas=tuple(_guid(e.text, where) for e in _children(elem, "src-ma")),
            exclude_mas=tuple(_guid(e.text, where) for e in _children(elem, "exclude-ma")),
        )
    return rules


def parse_deprovisioning(root: ET.Element | None) -> Deprovisioning | None:
    """The `<provisioning-cleanup>` action of one MA (scripted when type="scripted")."""
    if root is None:
        return None
    cleanup = root if _local(root.tag) == "provisioning-cleanup" else None
    cleanup = cleanup or next(_iter(root, "provisioning-cleanup"), None)
    if cleanup is None:
        return None
    if cleanup.get("type") == "scripted":
        return Deprovisioning.SCRIPTED
    action = _text(cleanup, "action")
    try:
        return Deprovisioning(action) if action else None
    except ValueError:
        return None  # an action this version does not know: show nothing rather than guess


def parse_export_flows(
    root: ET.Element, ma_id: uuid.UUID, where: str
) -> tuple[ExportFlowRule, ...]:
    """The `<export-flow-set>`s anywhere under `root`: an MA file's `<ma-data>` or the
    `export_attribute_flow_xml` column, whose root is `<export-attribute-flow>`
    ([MS-UPSDBDAP] §2.2.5.6, schema [MS-UPSCDS] §2.2.17). The shape, as MIMDSC's test
    export MA-TinyHR.XML has it:

        <export-flow-set cd-object-type="person" mv-object-type="SyncObject">
          <export-flow cd-attribute="JobTitle" id="{GUID}" suppress-deletions="false">
            <direct-mapping><src-attribute>Title</src-attribute></direct-mapping>

    with `<scripted-mapping>` (src-attributes and a `<script-context>`), `<constant-mapping>`
    (`<constant-value>`) or `<sync-rule-mapping>` in its place. A flow the engine could not
    have written (no object types, no cd-attribute, not exactly one mapping, a direct
    mapping of other than one attribute) raises `SyncConfigError` naming `where`: a map
    drawn past it would leave out where data goes. Constant values are never kept."""
    flows: list[ExportFlowRule] = []
    for flow_set in _iter(root, "export-flow-set"):
        mv_type = (flow_set.get("mv-object-type") or "").strip()
        cd_type = (flow_set.get("cd-object-type") or "").strip()
        if not mv_type or not cd_type:
            raise SyncConfigError(f"{where}: an <export-flow-set> without its object types")
        for elem in _children(flow_set, "export-flow"):
            flows.append(_export_flow(elem, ma_id, mv_type, cd_type, where))
    return tuple(flows)


def _export_flow(
    elem: ET.Element, ma_id: uuid.UUID, mv_type: str, cd_type: str, where: str
) -> ExportFlowRule:
    cd_attribute = (elem.get("cd-attribute") or "").strip()
    if not cd_attribute:
        raise SyncConfigError(f"{where}: an <export-flow> to {cd_type} without a cd-attribute")
    here = f"{where}: the export flow to {cd_type}.{cd_attribute}"
    mappings = [c for c in elem if _local(c.tag).endswith("-mapping")]
    if len(mappings) != 1:
        raise SyncConfigError(f"{here} has {len(mappings)} mappings, not one")
    (mapping_elem,) = mappings
    try:
        mapping = ExportMapping(_local(mapping_elem.tag).removesuffix("-mapping"))
    except ValueError:
        raise SyncConfigError(f"{here} has an unknown mapping kind") from None
    found = _source_attributes(mapping_elem)
    sources = tuple(name for name, _ in found)
    if mapping is ExportMapping.DIRECT and len(sources) != 1:
        raise SyncConfigError(f"{here} is a direct mapping of {len(sources)} attributes, not one")
    suppress = (elem.get("suppress-deletions") or "false").strip().lower()
    if suppress not in ("true", "false"):
        raise SyncConfigError(f"{here} has suppress-deletions neither true nor false")
    return ExportFlowRule(
        ma_id=ma_id,
        mv_object_type=mv_type,
        cd_object_type=cd_type,
        cd_attribute=cd_attribute,
        mapping=mapping,
        src_attributes=sources,
        flow_id=_guid(elem.get("id"), where) if elem.get("id") else None,
        suppress_deletions=suppress == "true",
        intrinsic_sources=frozenset(name for name, intrinsic in found if intrinsic),
    )


def _description(text: str | None) -> str | None:
    return (text.strip() or None) if text else None


def parse_ma_file(data: bytes | str, where: str) -> ManagementAgent:
    """One management agent's file (`<saved-ma-configuration><ma-data>`)."""
    ma = _ma_from(_parse(data, where), where)
    if ma is None:
        raise SyncConfigError(f"{where}: no <ma-data>")
    return ma


def _ma_from(root: ET.Element, where: str, *, exports: bool = True) -> ManagementAgent | None:
    """The management agent an MA file's root describes; None when it holds no `<ma-data>`.
    `exports=False` leaves its export flows unread (and a malformed one unnoticed)."""
    ma_data = next(_iter(root, "ma-data"), None)
    if ma_data is None:
        return None
    name = _text(ma_data, "name")
    if not name:
        raise SyncConfigError(f"{where}: <ma-data> has no <name>")
    ma_id = _guid(_text(ma_data, "id"), where)
    return ManagementAgent(
        ma_id=ma_id,
        name=name,
        ma_type=_text(ma_data, "category") or None,
        deprovisioning=parse_deprovisioning(ma_data),
        description=_description(_text(ma_data, "description")),
        exports=parse_export_flows(ma_data, ma_id, f"{where} ({name})") if exports else (),
    )


@dataclass(frozen=True)
class MvSchema:
    """The metaverse schema's names (DSML: `<dsml:class>` and `<dsml:attribute-type>`),
    lower-cased: object class -> the attributes it may hold, and every attribute."""

    classes: Mapping[str, frozenset[str]]
    attributes: frozenset[str]
    # lower-cased name -> as the schema spells it (the data map names attributes so)
    spelled: Mapping[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.classes or self.attributes)

    def class_attributes(self, object_class: str) -> tuple[str, ...]:
        """The attributes `object_class` may hold, as spelled, sorted; () if unknown."""
        names = self.classes.get(object_class.lower(), frozenset())
        return tuple(sorted(self.spelled.get(n, n) for n in names))


def _dsml_spelled(elem: ET.Element) -> str:
    return (_text(elem, "name") or elem.get("id") or "").strip()


def _dsml_name(elem: ET.Element) -> str:
    return _dsml_spelled(elem).lower()


def parse_mv_schema(root: ET.Element) -> MvSchema:
    """The DSML metaverse schema anywhere under `root` (MV.XML's `<schema>`, or the
    `mv_schema_xml` column); empty when there is none."""
    refs = {
        _dsml_name(c): [(a.get("ref") or "").lstrip("#") for a in _children(c, "attribute")]
        for c in _iter(root, "class")
    }
    classes = {name: frozenset(r.lower() for r in names) for name, names in refs.items()}
    types = [_dsml_spelled(a) for a in _iter(root, "attribute-type")]
    spelled = {r.lower(): r for names in refs.values() for r in names if r}
    spelled.update((t.lower(), t) for t in types if t)  # the attribute-type's own name wins
    return MvSchema(classes, frozenset(t.lower() for t in types), spelled)


def mv_schema_of(xml: bytes | str, where: str) -> MvSchema:
    """`parse_mv_schema` of an XML text (an MV.XML or the database column)."""
    return parse_mv_schema(_parse(xml, where))


@dataclass(frozen=True)
class ConfigFolder:
    """What an exported configuration folder holds: its configuration and the files read."""

    config: SyncConfig
    mv_file: str
    ma_files: Mapping[uuid.UUID, str]  # MA id -> the file that described it
    mv_schema: MvSchema = field(default_factory=lambda: MvSchema({}, frozenset()))


def load_config_dir(
    path: Path, *, known_mas: Iterable[ManagementAgent] = (), exports: bool = True
) -> SyncConfig:
    """Read an exported server configuration folder: MV.XML (any case) and every other
    `*.xml` holding `<ma-data>` (svrexport's `{GUID}.xml`, `Connector_<name>.xml`,
    `MA-<name>.XML`); other XML files there are left alone.

    `known_mas` (e.g. from `mms_management_agent`) names MAs that have no file here.
    `exports=False` skips the MAs' export flows: what shows a person and plans an erasure
    needs none, and a malformed one must not stop those.
    """
    return read_config_dir(path, known_mas=known_mas, exports=exports).config


def read_config_dir(
    path: Path, *, known_mas: Iterable[ManagementAgent] = (), exports: bool = True
) -> ConfigFolder:
    """`load_config_dir`, also saying which file described which MA."""
    files = {p.name.lower(): p for p in Path(path).iterdir() if p.is_file()}
    mv_path = files.get("mv.xml")
    if mv_path is None:
        raise SyncConfigError(f"{path}: no MV.XML (is this a svrexport folder?)")
    root = _parse(mv_path.read_bytes(), mv_path.name)
    mas = {ma.ma_id: ma for ma in known_mas}
    ma_files: dict[uuid.UUID, str] = {}
    for lower, file in sorted(files.items()):
        if lower == "mv.xml" or not lower.endswith(".xml"):
            continue
        ma = _ma_from(_parse(file.read_bytes(), file.name), file.name, exports=exports)
        if ma is None:  # some other XML kept beside the export
            continue
        if ma.ma_id in ma_files and mas[ma.ma_id] != ma:
            # A renamed copy beside the original that says otherwise: which is current?
            raise SyncConfigError(
                f"{file.name} and {ma_files[ma.ma_id]} describe the same management agent"
            )
        mas[ma.ma_id] = ma
        ma_files.setdefault(ma.ma_id, file.name)
    config = SyncConfig(
        precedence=parse_import_flows(root, mv_path.name),
        deletion_rules=parse_deletion_rules(root, mv_path.name),
        mas=mas,
    )
    return ConfigFolder(config, mv_path.name, ma_files, parse_mv_schema(root))


def parse_database_config(
    import_attribute_flow_xml: str | None,
    mv_deletion_rule_xml: str | None,
    mas: Iterable[tuple[uuid.UUID, str, str | None, str | None]],
) -> SyncConfig:
    """Build the config from `mms_server_configuration` and `mms_management_agent` values.

    `mas` rows are (ma_id, ma_name, ma_type, provisioning_cleanup_xml).
    """
    precedence: dict[str, dict[str, Precedence]] = {}
    rules: dict[str, DeletionRule] = {}
    if import_attribute_flow_xml:
        where = "import_attribute_flow_xml"
        precedence = parse_import_flows(_parse(import_attribute_flow_xml, where), where)
    if mv_deletion_rule_xml:
        where = "mv_deletion_rule_xml"
        rules = parse_deletion_rules(_parse(mv_deletion_rule_xml, where), where)
    agents = {}
    for ma_id, name, ma_type, cleanup_xml in mas:
        cleanup = _parse(cleanup_xml, "provisioning_cleanup_xml") if cleanup_xml else None
        agents[ma_id] = ManagementAgent(ma_id, name, ma_type, parse_deprovisioning(cleanup))
    return SyncConfig(precedence=precedence, deletion_rules=rules, mas=agents)


def database_agent(
    ma_id: uuid.UUID,
    name: str,
    ma_type: str | None,
    description: str | None,
    cleanup_xml: str | None,
    export_xml: str | None,
) -> ManagementAgent:
    """One `mms_management_agent` row ([MS-UPSDBDAP] §2.2.5.6: `ma_description`,
    `provisioning_cleanup_xml`, `export_attribute_flow_xml`) as a `ManagementAgent` with
    its description and export flows."""
    cleanup = _parse(cleanup_xml, "provisioning_cleanup_xml") if cleanup_xml else None
    where = f"export_attribute_flow_xml ({name})"
    exports = parse_export_flows(_parse(export_xml, where), ma_id, where) if export_xml else ()
    return ManagementAgent(
        ma_id, name, ma_type, parse_deprovisioning(cleanup), _description(description), exports
    )


def _names(config: SyncConfig, ma_ids: Iterable[uuid.UUID]) -> str:
    names = [config.ma_name(m) for m in ma_ids]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " or " + names[-1]


def deletion_trigger(config: SyncConfig, rule: DeletionRule | None) -> str:
    """What removes the MV object, as a clause: "deleting the HR connector triggers it"."""
    if rule is None:
        return "no deletion rule is known for this object type"
    if rule.kind is DeletionKind.DECLARED_ANY:
        return f"deleting the {_names(config, rule.src_mas)} connector triggers it"
    if rule.kind is DeletionKind.SCRIPTED:
        return "a rules extension (ShouldDeleteFromMV) decides"
    excluded = _names(config, rule.exclude_mas)
    tail = f" ({excluded} connectors do not count)" if excluded else ""
    return f"removing the last connector triggers it{tail}"


def deletion_meaning(config: SyncConfig, rule: DeletionRule | None) -> str:
    """One sentence: what the deletion rule means for an erasure."""
    if rule is None:
        return (
            "No metaverse deletion rule is known for this object type, so the bot cannot say "
            "what removes the metaverse object; check the sync server configuration."
        )
    if rule.kind is DeletionKind.DECLARED_ANY:
        names = _names(config, rule.src_mas)
        return (
            f"The metaverse object is deleted as soon as its {names} connector is removed, so "
            f"erase the person in {names} first; the other connected systems then follow "
            "their management agent's deprovisioning action."
        )
    if rule.kind is DeletionKind.SCRIPTED:
        return (
            "A rules extension (ShouldDeleteFromMV) decides when the metaverse object is "
            "deleted; ask the IAM engineer which source deletion triggers it."
        )
    excluded = _names(config, rule.exclude_mas)
    tail = f", not counting {excluded}," if excluded else ""
    return (
        f"The metaverse object is deleted only when its last connector{tail} is removed, so "
        "every connected system must delete or disconnect the person first."
    )
