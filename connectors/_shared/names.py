"""Windows names the connectors check before they use one: a NetBIOS domain name (`CORP` in
`CORP\\jdoe`) and a user's sAMAccountName (`jdoe`).

A setting that is not a NetBIOS domain name is refused; a search or a check for a name that
no domain or user account can have finds no one, and nothing is sent.
"""

from __future__ import annotations

__all__ = ["MAX_ACCOUNT", "MAX_NETBIOS", "is_account_name", "is_netbios_domain"]

# Microsoft, "Naming conventions in Active Directory for computers, domains, sites, and
# OUs" (learn.microsoft.com/troubleshoot/windows-server/active-directory/
# naming-conventions-for-computer-domain-site-ou), NetBIOS names: one to 15 characters (the
# 16th is reserved), none of \ / : * ? " < > |, and no period first. A period anywhere is
# refused here, as that article's list for NetBIOS domain names does ("Don't use periods in
# new NetBIOS domain names"): a dotted value is a DNS name, and looking it up as a NetBIOS
# name would find no one and so prove nothing. The apostrophe is in that list too.
MAX_NETBIOS = 15
_NOT_IN_NETBIOS = frozenset('\\/:*?"<>|' + ".'")

# The sAMAccountName attribute (learn.microsoft.com/windows/win32/adschema/
# a-samaccountname): "20 characters or less", and none of " / \ [ ] : ; | = , + * ? < >.
# The schema's rangeUpper is 256; 20 is the limit for user accounts, the only kind these
# connectors look up.
MAX_ACCOUNT = 20
_NOT_IN_ACCOUNT = frozenset('"/\\[]:;|=,+*?<>')


def is_netbios_domain(name: str) -> bool:
    """Whether `name` can be a NetBIOS domain name: 1 to `MAX_NETBIOS` printable
    characters, not only blanks, none of \\ / : * ? " < > | . '."""
    return (
        0 < len(name) <= MAX_NETBIOS
        and name.isprintable()
        and not name.isspace()
        and _NOT_IN_NETBIOS.isdisjoint(name)
    )


def is_account_name(name: str) -> bool:
    """Whether `name` can be a user's sAMAccountName: 1 to `MAX_ACCOUNT` characters, not only
    blanks, no NUL, none of " / \\ [ ] : ; | = , + * ? < >."""
    return (
        0 < len(name) <= MAX_ACCOUNT
        and not name.isspace()
        and "\x00" not in name
        and _NOT_IN_ACCOUNT.isdisjoint(name)
    )
