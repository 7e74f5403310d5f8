"""Redaction: what may be shown of a configuration's options and URLs. Every repr, message and
log line that names an option or a URL goes through here, so that no secret can appear in one.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

# An option whose name holds one of these words is a secret, unless it names a file's path
# (snowflake_master_token_path): the worker uses the same rule.
_SECRET_WORDS = ("secret", "key", "token", "sas", "password", "credential", "signature")


def is_secret_option(name: str) -> bool:
    lowered = name.lower()
    return not lowered.endswith("_path") and any(word in lowered for word in _SECRET_WORDS)


def hide_query(url: str) -> str:
    """``url`` as it may be shown: never its query string (it may hold a SAS token or a
    signature)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="***")) if parts.query else url
