"""Plumbing several systems share: LDAP errors and filters (ldap), SQL sessions and
deadlines (sql), the HTTP session and its error mapping (http), the WinRM runner and
script envelope (powershell, scripts/), a MIM server's CEIP values (ceip), NetBIOS and
account name rules (names), change checks (changes), read-back after a write
(read_back). Private to connectors/."""
