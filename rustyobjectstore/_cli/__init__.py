"""The command line: ``python -m rustyobjectstore`` (also installed as ``rustyobjectstore``).

``cp``, ``mv``, ``sync``, ``rm``, ``ls``, ``du``, ``cat``, ``pipe``, ``stat``, ``presign`` and
``run`` act on object
URLs (``s3://bucket/key``, ``az://container/key``, ``gs://bucket/key``, ``file:///abs/path/key``,
``snowflake://STAGE/key``) and local paths; trees move in parallel through the pool. Modules:
``locations`` (URLs and paths), ``patterns`` (wildcards, filters), ``sources`` (what a source
names), ``transfers`` (many jobs at once), ``progress``, ``copying`` (cp, mv), ``syncing`` (sync),
``listing`` (ls, du), ``objects`` (the one-object commands, rm), ``parser``, ``main`` (and
``run``'s batches).
"""

from rustyobjectstore._cli.locations import parse_url
from rustyobjectstore._cli.main import main

__all__ = ["main", "parse_url"]
