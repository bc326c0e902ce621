"""How an event is hashed into the chain, and the head and checkpoints signed: canonical
JSON of the event's fields, SHA-256 before migration 0005, HMAC-SHA256 with the chain
key since."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "canonical",
    "event_fields",
    "head_mac",
    "keyed_hash",
    "mac",
    "plain_hash",
    "row_fields",
    "utc",
]


def canonical(fields: Mapping[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def plain_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """Events before migration 0005: SHA-256 of the previous hash and the fields."""
    return hashlib.sha256(prev_hash.encode() + canonical(fields)).hexdigest()


def keyed_hash(key: bytes, prev_hash: str, fields: Mapping[str, Any]) -> str:
    return hmac.new(key, prev_hash.encode() + canonical(fields), hashlib.sha256).hexdigest()


def mac(key: bytes, *parts: object) -> str:
    return hmac.new(key, ":".join(map(str, parts)).encode(), hashlib.sha256).hexdigest()


def head_mac(key: bytes, seq: int, digest: str, keyed_from: int) -> str:
    return mac(key, "mimbot-audit-head", seq, digest, keyed_from)


def event_fields(
    seq: int,
    at: datetime,
    actor: str,
    roles: str,
    action: str,
    request_id: str | None,
    subject_key: str | None,
    outcome: str,
    detail: str,
) -> dict[str, Any]:
    # SQLite drops tzinfo on the way back: hash a naive-UTC ISO form on both sides.
    at_text = at.astimezone(UTC).replace(tzinfo=None).isoformat() if at.tzinfo else at.isoformat()
    return {
        "seq": seq,
        "at": at_text,
        "actor": actor,
        "roles": roles,
        "action": action,
        "request_id": request_id,
        "subject_key": subject_key,
        "outcome": outcome,
        "detail": detail,
    }


def row_fields(r: Any) -> dict[str, Any]:
    return event_fields(
        r.seq, r.at, r.actor, r.roles, r.action, r.request_id, r.subject_key, r.outcome, r.detail
    )


def utc(at: datetime) -> datetime:
    at = at if at.tzinfo else at.replace(tzinfo=UTC)  # SQLite: stored in UTC, read back naive
    return at.astimezone(UTC)
