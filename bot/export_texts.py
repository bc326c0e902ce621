"""What each system is, in words for the data subject: the README of an access package.

GDPR Art. 15(1) asks for the purposes, the recipients, how long the data is kept and
where it came from. These are the defaults for a MIM estate; an organisation states
its own in app.yaml (`export.systems.<name>`), which override them field by field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

__all__ = ["SystemText", "system_text"]


@dataclass(frozen=True)
class SystemText:
    purpose: str
    source: str
    authority: str
    retention: str


_DEFAULTS: Mapping[str, SystemText] = {
    "hr": SystemText(
        purpose="Your employment record: who you are, your job and your contract.",
        source="Entered by HR when you joined and kept up to date by HR.",
        authority="HR is the source of authority: the other systems take your name, "
        "employee number and job from it.",
        retention="As long as you work here, then as employment law requires.",
    ),
    "ad": SystemText(
        purpose="Your user account: signing in, e-mail, your entry in the address book.",
        source="Created automatically from your HR record; some details (telephone, "
        "office) may be entered by IT.",
        authority="Account name, mail address and password are decided here.",
        retention="Until your account is deleted; then a stripped copy (tombstone) for "
        "up to 180 days.",
    ),
    "mimsync": SystemText(
        purpose="The identity manager's joined view of you: it copies your details "
        "between the systems listed here.",
        source="Each attribute comes from the system named as its source.",
        authority="None of its own: it follows the systems it copies from.",
        retention="Until you are removed from the systems it copies from.",
    ),
    "mimservice": SystemText(
        purpose="The identity portal: self-service password reset and requests about your access.",
        source="Copied from your HR record and your account; password-reset details "
        "you registered yourself.",
        authority="Your password-reset registration is decided here.",
        retention="Requests about you are kept for the portal's retention period after they end.",
    ),
    "pam": SystemText(
        purpose="Privileged access: an administrative account you may use for a limited time.",
        source="Created by the IT security team for your administrative role.",
        authority="Your privileged roles are decided here.",
        retention="Until your privileged account is removed.",
    ),
    "bhold": SystemText(
        purpose="Role-based access: which roles and permissions you hold.",
        source="Copied from your HR record; roles assigned by your manager or the access team.",
        authority="Your roles and permissions are decided here.",
        retention="Until you are removed from every organisational unit.",
    ),
    "certmgmt": SystemText(
        purpose="Smart cards and certificates issued to you.",
        source="Issued when you enrolled a smart card or certificate.",
        authority="None for your details: it reflects your user account.",
        retention="Certificates you enrolled are kept until they expire.",
    ),
}
_GENERIC = SystemText(
    purpose="Holds data about you for the organisation's identity and access management.",
    source="Copied from the systems above or entered by the team that runs it.",
    authority="Not stated.",
    retention="Not stated.",
)


def system_text(name: str, overrides: Mapping[str, Mapping[str, str]] | None = None) -> SystemText:
    """The text for system `name`: the organisation's own fields over the defaults."""
    text = _DEFAULTS.get(name, _GENERIC)
    own = (overrides or {}).get(name)
    return replace(text, **own) if own else text
