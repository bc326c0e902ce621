"""app.yaml, read once at the edge, validated, and handed out section by section.

Secrets never sit in the file in clear: a secret key holds a `${ENV_VAR}`
reference, or its sibling `<key>_file` names a file holding the secret. Any
other string may use `${ENV_VAR}` too. The environment is an argument
(`environ=`), so tests pass a dict instead of patching `os.environ`.
"""

from bot.config.app import (
    AppConfig,
    AuditConfig,
    DatamapConfig,
    ExportConfig,
    HttpConfig,
    InboxConfig,
    PolicyConfig,
    RoleMembers,
    RunnerConfig,
    SearchConfig,
    SlackConfig,
)
from bot.config.connectors import ConnectorsConfig
from bot.config.loading import load_config, parse_config

__all__ = [
    "AppConfig",
    "AuditConfig",
    "ConnectorsConfig",
    "DatamapConfig",
    "ExportConfig",
    "HttpConfig",
    "InboxConfig",
    "PolicyConfig",
    "RoleMembers",
    "RunnerConfig",
    "SearchConfig",
    "SlackConfig",
    "load_config",
    "parse_config",
]
