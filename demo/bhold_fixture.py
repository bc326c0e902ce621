"""BHOLD Core state for the loopback stand-in (demo/bhold_stub.py): users, roles, org units,
permissions, attribute types, and the GetInfo and ExecuteXml functions the BHOLD connector
uses, with BHOLD's documented behaviour. "Reference" below is MicrosoftDocs/MIMDocs
`MIMDocs/reference/mim2016-bhold-developer-reference.md` (notes: ../../shared/reference/
bhold-soap.md); where it is silent the stand-in is strict, and says so.

- `users` filters are SQL Server LIKE patterns (`%`, `_`, `[…]`, `[^…]`), case-insensitive,
  on the default alias, or on a list attribute when an attributetypeid is given (Reference,
  "User information": `users`; the attribute type by id or by name, as its "City" example).
  An attributetypeid BHOLD does not have answers "" (silent; "GetInfo returns an empty string
  or an error" on failure, "Retrieve BHOLD information": the less convenient of the two,
  which looks like "no one");
- `attributetypes` lists the attribute types (Reference, "GetInfo arguments"; its shape is
  not given, so the Collection one, "Return types");
- replies are shaped as the "Return types" table (`ReplyShape.TABLE`), or as the C# GetInfo
  sample reads them (`ReplyShape.SAMPLE`: lower-case `item`, the user's description and
  alias only in the KEY/VALUE list as `bholdDescription` and `bholdDefAlias`, the latter as
  `applicationadd`'s alias formula names it);
- script IDs that are not numbers are looked up (userID by alias, roleID and OrgUnitID by
  description, `%` allowed; `no_id:` forces it) and the first match is used;
- a script runs on a copy and is committed only when every function succeeds;
- removing a user from their last org unit deletes the user;
- `Userupdate` sets the description and names it is given, and requires a numeric `language`
  (the doc does not mark it optional).

`user` shows a `middlename` attribute, which the doc's table does not list: an assumption
(unverified) that lets a middle name change be read back here.
"""

from __future__ import annotations

import copy
import enum
import re
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from lxml import etree

__all__ = ["BholdState", "DemoPerson", "ReplyShape", "User", "like", "seed_people"]

DemoPerson = tuple[str, str, str, str, str, str]  # account, display, first, last, mail, emp id
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
COLLECTIONS = ("userroles", "userunits", "userpermissions")
DEMO_TYPES = ("DisplayName", "Email", "EmployeeID")  # the list values seed_people gives


class ReplyShape(enum.Enum):
    TABLE = "table"  # Reference, "Return types"
    SAMPLE = "sample"  # Reference, the C# GetInfo sample (`//item`, `bholdDescription`)


class ScriptFailure(Exception):
    """A function of a command script failed: BHOLD's error number and description."""

    def __init__(self, number: int, description: str) -> None:
        super().__init__(description)
        self.number, self.description = number, description


@dataclass
class User:
    id: int
    alias: str
    description: str
    firstname: str = ""
    lastname: str = ""
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()).upper())
    language: str = "1"
    values: list[tuple[str, str]] = field(default_factory=list)  # the KEY/VALUE list
    middlename: str = ""


@dataclass
class _Store:
    users: dict[int, User] = field(default_factory=dict)
    roles: dict[int, str] = field(default_factory=dict)
    units: dict[int, str] = field(default_factory=dict)
    permissions: dict[int, str] = field(default_factory=dict)
    user_roles: dict[int, set[int]] = field(default_factory=dict)
    user_units: dict[int, set[int]] = field(default_factory=dict)
    role_permissions: dict[int, set[int]] = field(default_factory=dict)
    attribute_types: dict[int, str] = field(default_factory=dict)


def like(pattern: str, value: str) -> bool:
    """SQL Server `value LIKE pattern` under a case-insensitive collation."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "%":
            out.append(".*")
        elif c == "_":
            out.append(".")
        elif c == "[" and "]" in pattern[i + 2 :]:  # [x], [^x], [a-z]; "[]]" included
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            negate = body.startswith("^") and len(body) > 1
            body = body[1:] if negate else body
            parts, j = [], 0
            while j < len(body):  # ranges a-z; everything else literal
                if j + 2 < len(body) and body[j + 1] == "-":
                    parts.append(f"{re.escape(body[j])}-{re.escape(body[j + 2])}")
                    j += 3
                else:
                    parts.append(re.escape(body[j]))
                    j += 1
            out.append(f"[{'^' if negate else ''}{''.join(parts)}]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.fullmatch("".join(out), value, re.IGNORECASE | re.DOTALL) is not None


class BholdState:
    """The BHOLD Core database of the stand-in. Thread-safe."""

    def __init__(self) -> None:
        self.loose = False  # `users` ignores its filter: a client must check each answer
        self.hidden_units: set[int] = set()  # outside the service account's view
        self.shape = ReplyShape.TABLE
        self._store = _Store()
        self._lock = threading.RLock()
        self._next = 1

    # ---- seeding ---------------------------------------------------------
    def _id(self) -> int:
        self._next += 1
        return self._next - 1 + 100

    def add_attribute_type(self, description: str) -> int:
        """An attribute type (its id); the one already named so, if there is one."""
        with self._lock:
            types = self._store.attribute_types
            found = [i for i, d in types.items() if d.casefold() == description.casefold()]
            if found:
                return found[0]
            tid = self._id()
            types[tid] = description
            return tid

    def remove_attribute_type(self, description: str) -> None:
        with self._lock:
            types = self._store.attribute_types
            for tid in [i for i, d in types.items() if d.casefold() == description.casefold()]:
                del types[tid]

    def add_unit(self, description: str) -> int:
        with self._lock:
            uid = self._id()
            self._store.units[uid] = description
            return uid

    def add_role(self, description: str, permissions: Iterable[str] = ()) -> int:
        with self._lock:
            rid = self._id()
            self._store.roles[rid] = description
            perms = set()
            for p in permissions:
                pid = self._id()
                self._store.permissions[pid] = p
                perms.add(pid)
            self._store.role_permissions[rid] = perms
            return rid

    def add_user(
        self,
        alias: str,
        description: str,
        *,
        firstname: str = "",
        lastname: str = "",
        middlename: str = "",
        values: Iterable[tuple[str, str]] = (),
        units: Iterable[int] = (),
        roles: Iterable[int] = (),
    ) -> int:
        """A user in `units` holding `roles` (IDs from add_unit/add_role); its id."""
        with self._lock:
            uid = self._id()
            self._store.users[uid] = User(
                uid,
                alias,
                description,
                firstname,
                lastname,
                values=list(values),
                middlename=middlename,
            )
            self._store.user_units[uid] = set(units)
            self._store.user_roles[uid] = set(roles)
            return uid

    def join(self, uid: int, *, roles: Iterable[int] = (), units: Iterable[int] = ()) -> None:
        """Give user `uid` more roles and org units."""
        with self._lock:
            self._store.user_roles.setdefault(uid, set()).update(roles)
            self._store.user_units.setdefault(uid, set()).update(units)

    # ---- inspection ------------------------------------------------------
    def user(self, uid: int) -> User | None:
        with self._lock:
            return copy.deepcopy(self._store.users.get(uid))

    def memberships(self, uid: int) -> tuple[set[int], set[int]]:
        """(role ids, org unit ids) of the user."""
        with self._lock:
            s = self._store
            return set(s.user_roles.get(uid, ())), set(s.user_units.get(uid, ()))

    def snapshot(self) -> _Store:
        with self._lock:
            return copy.deepcopy(self._store)

    # ---- GetInfo ---------------------------------------------------------
    def get_info(self, function: str, p1: str, p2: str, p3: str) -> str:
        """The GetInfoResult string: an XML document, or "" for no match."""
        fn = function.lower()
        with self._lock:
            s = self._store
            if fn == "users":
                return self._users(p1, p2)
            if fn == "attributetypes":
                return self._collection(s.attribute_types, set(s.attribute_types))
            uid = int(p1) if p1.isascii() and p1.isdigit() else None
            user = s.users.get(uid) if uid is not None else None
            if user is None:
                return ""
            if fn == "user":
                return _user_xml(user, self.shape)
            if fn == "userroles":
                return self._collection(s.roles, s.user_roles.get(user.id, set()))
            if fn == "userunits":
                units = s.user_units.get(user.id, set()) - self.hidden_units
                return self._collection(s.units, units)
            if fn == "userpermissions":
                perms = set().union(
                    *(s.role_permissions.get(r, set()) for r in s.user_roles.get(user.id, ()))
                )
                return self._collection(s.permissions, perms)
        raise ValueError("unknown GetInfo function")

    def _users(self, pattern: str, attribute: str) -> str:
        key = ""
        if attribute:
            types = self._store.attribute_types
            known = [
                d
                for i, d in types.items()
                if attribute == str(i) or attribute.casefold() == d.casefold()
            ]
            if not known:  # an attribute type BHOLD does not have: "" (see the module)
                return ""
            key = known[0].casefold()
        found = []
        for user in self._store.users.values():
            vals = [v for k, v in user.values if k.casefold() == key] if key else [user.alias]
            # No filter: "all visible users" (Reference, "GetInfo functions": users, whose
            # example `GetInfo("users")` "returns all users").
            if self.loose or not pattern or any(like(pattern, v) for v in vals):
                found.append(user)
        if not found:
            return ""
        sample = self.shape is ReplyShape.SAMPLE
        root = etree.Element("items" if sample else "ITEMS")
        for u in found:
            item = etree.SubElement(root, "item" if sample else "ITEM")
            item.set("description", u.description)
            item.set("id", str(u.id))
            if not sample:  # the C# sample reads names from the list, not from attributes
                item.set("alias", u.alias)
        return etree.tostring(root, encoding="unicode")

    def _collection(self, table: dict[int, str], ids: set[int]) -> str:
        return _collection(table, ids, self.shape)

    # ---- ExecuteXml ------------------------------------------------------
    def execute(self, functions: etree._Element, *, fail_at: int | None = None) -> str:
        """Run a `<functions>` script on a copy; commit when every function succeeds. The
        report is shaped like BholdScriptResult. `fail_at` (0-based) makes that function fail."""
        with self._lock:
            work = copy.deepcopy(self._store)
            report = etree.Element("Bhold")
            etree.SubElement(report, "Script").append(copy.deepcopy(functions))
            calls = [f for f in functions if isinstance(f.tag, str)]
            failed = None
            for n, fn in enumerate(calls):
                try:
                    if n == fail_at:
                        raise ScriptFailure(5, "Injected failure (stub)")
                    _apply(work, fn)
                except ScriptFailure as exc:
                    failed = n
                    _report(report, fn, exc.number, exc.description)
                    break
            if failed is None:
                self._store = work
            else:  # BHOLD lists the functions it did not run, with Number 0
                for fn in calls[failed + 1 :]:
                    _report(report, fn, 0, "")
            etree.SubElement(report, "IDS")
            return etree.tostring(report, encoding="unicode")


def _report(report: etree._Element, fn: etree._Element, number: int, text: str) -> None:
    el = etree.SubElement(report, "Function")
    etree.SubElement(el, "Name").text = fn.get("name", "")
    etree.SubElement(el, "ExecutedXML").append(copy.deepcopy(fn))
    etree.SubElement(el, "Error", Number=str(number), Description=text)


def _args(fn: etree._Element) -> dict[str, str]:
    args = {k.lower(): v for k, v in fn.attrib.items()}
    for params in fn:
        for p in params if isinstance(params.tag, str) else ():
            if isinstance(p.tag, str) and p.get("name"):
                args[p.get("name", "").lower()] = p.text or ""
    return args


def _lookup(value: str, table: dict[int, str]) -> int:
    """An ID parameter as BHOLD reads it: a number, or the first match of a LIKE search."""
    if value.isascii() and value.isdigit():
        return int(value)
    text = value.removeprefix("no_id:")
    for key in sorted(table):
        if like(text, table[key]):
            return key
    raise ScriptFailure(3, "The object was not found")


def _apply(s: _Store, fn: etree._Element) -> None:
    name, args = fn.get("name", "").lower(), _args(fn)
    aliases = {i: u.alias for i, u in s.users.items()}
    uid = _lookup(args.get("userid", ""), aliases)
    if uid not in s.users:
        raise ScriptFailure(3, "The user was not found")
    if name == "roledeleteuser":
        rid = _lookup(args.get("roleid", ""), s.roles)
        if rid not in s.user_roles.get(uid, set()):
            raise ScriptFailure(7, "The user does not hold the role")
        s.user_roles[uid].discard(rid)
    elif name == "orgunitdeleteuser":
        oid = _lookup(args.get("orgunitid", ""), s.units)
        if oid not in s.user_units.get(uid, set()):
            raise ScriptFailure(7, "The user is not in the org unit")
        s.user_units[uid].discard(oid)
        if not s.user_units[uid]:  # the last org unit: the user goes with it
            del s.users[uid]
            s.user_units.pop(uid, None)
            s.user_roles.pop(uid, None)
    elif name == "userupdate":
        user = s.users[uid]
        language = args.get("language", "")
        if not (language.isascii() and language.isdigit()):
            raise ScriptFailure(4, "The language is missing or not a number")
        for key in ("description", "firstname", "middlename", "lastname", "language"):
            if key in args:
                setattr(user, key, args[key])
    else:
        raise ScriptFailure(1, "Unknown function")


def _user_xml(user: User, shape: ReplyShape) -> str:
    """Reference "Return types", User: `<ITEM id description alias firstname lastname uuid
    language><LIST>{<ITEM><KEY/><VALUE/></ITEM>}</LIST></ITEM>`. `middlename` is not in the
    table (an assumption, so a middle name change can be read back). SAMPLE: lower-case
    names, description and alias only in the list (see the module)."""
    sample = shape is ReplyShape.SAMPLE
    names = ("item", "list", "key", "value") if sample else ("ITEM", "LIST", "KEY", "VALUE")
    item_tag, list_tag, key_tag, value_tag = names
    root = etree.Element(item_tag, id=str(user.id))
    core = [("description", user.description), ("alias", user.alias)]
    for name, value in ([] if sample else core) + [
        ("firstname", user.firstname),
        ("middlename", user.middlename),
        ("lastname", user.lastname),
        ("uuid", user.uuid),
        ("language", user.language),
    ]:
        root.set(name, value)
    lst = etree.SubElement(root, list_tag)
    listed = [("bholdDescription", user.description), ("bholdDefAlias", user.alias)]
    for key, value in (listed if sample else []) + user.values:
        item = etree.SubElement(lst, item_tag)
        etree.SubElement(item, key_tag).text = key
        etree.SubElement(item, value_tag).text = value
    return etree.tostring(root, encoding="unicode")


def _collection(table: dict[int, str], ids: set[int], shape: ReplyShape) -> str:
    """Reference "Return types", Collection: `<ITEMS>{<ITEM description id/>}</ITEMS>`."""
    if not ids:
        return ""
    sample = shape is ReplyShape.SAMPLE
    root = etree.Element("items" if sample else "ITEMS")
    for i in sorted(ids):
        etree.SubElement(root, "item" if sample else "ITEM", description=table[i], id=str(i))
    return etree.tostring(root, encoding="unicode")


def seed_people(
    state: BholdState, people: Iterable[DemoPerson], *, domain: str = "CORP"
) -> dict[str, int]:
    """The demo estate's people as BHOLD users `DOMAIN\\account`, each in the "Staff" org unit
    with the "Employee" role (one permission), list values Email, EmployeeID and DisplayName
    (attribute types it adds if missing). Returns their ids by account."""
    with state._lock:
        for name in DEMO_TYPES:
            state.add_attribute_type(name)
        unit = state.add_unit("Staff")
        role = state.add_role("Employee", ["Read intranet"])
        ids = {}
        for account, display, first, last, mail, employee_id in people:
            values = [("DisplayName", display), ("Email", mail), ("EmployeeID", employee_id)]
            ids[account] = state.add_user(
                f"{domain}\\{account}",
                display,
                firstname=first,
                lastname=last,
                values=[(k, v) for k, v in values if v],
                units=[unit],
                roles=[role],
            )
        return ids
