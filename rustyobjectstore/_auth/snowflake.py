"""A Snowflake stage's fields, completed from the environment as RustyObjectStore.jl reads it."""

from __future__ import annotations

from collections.abc import Mapping

from rustyobjectstore._auth.chain import Options, from_env
from rustyobjectstore._errors import ConfigurationError

# A SnowflakeConfig field's environment fallbacks, as RustyObjectStore.jl reads them.
_SNOWFLAKE_ENV = {
    "account": ("SNOWFLAKE_ACCOUNT",),
    "database": ("SNOWFLAKE_DATABASE",),
    "schema": ("SNOWFLAKE_SCHEMA",),
    "endpoint": ("SNOWFLAKE_ENDPOINT",),
    "warehouse": ("SNOWFLAKE_WAREHOUSE",),
    "username": ("SNOWFLAKE_USERNAME",),
    "password": ("SNOWFLAKE_PASSWORD",),
    "role": ("SNOWFLAKE_ROLE",),
    "master_token_path": ("MASTER_TOKEN_PATH",),
}


def snowflake_options(stage: str, fields: Mapping[str, object]) -> Options:
    """A SnowflakeConfig's fields as the worker's ``snowflake_*`` options, unset ones from the
    environment; the account, database, schema and endpoint must be found somewhere."""
    out: Options = {"snowflake_stage": stage}
    for name, value in fields.items():
        if value is None:
            value = from_env(*_SNOWFLAKE_ENV.get(name, ()))
            if value is None and name == "endpoint":
                host = from_env("SNOWFLAKE_HOST")
                value = None if host is None else f"https://{host}"
        if value is not None:
            out[f"snowflake_{name}"] = str(value)
    missing = [
        name for name in ("account", "database", "schema", "endpoint")
        if f"snowflake_{name}" not in out
    ]  # fmt: skip
    if missing:
        names = ", ".join(missing)
        env = ", ".join(f"SNOWFLAKE_{name.upper()}" for name in missing)
        raise ConfigurationError(
            f"SnowflakeConfig for stage {stage!r} needs {names}: pass them, or set {env}"
        )
    return out
