"""What the worker needs to build a store (``StoreSpec``), and the two sides of handing it
credentials: a ``CredentialSource`` (a refreshing provider, ``_auth.providers.Provider``) pushes
them to a ``CredentialHolder`` (a connection, which sends them to its worker). Each side knows the
other only by these protocols.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from rustyobjectstore._redact import hide_query, is_secret_option


class CredentialHolder(Protocol):
    """What a credential source may do with a connection: ask whether it still lives and whether
    calls are in flight on it (whose requests still sign with what it holds), and hand it
    credentials (``fields`` as protocol.md's ``credentials`` frame names them)."""

    @property
    def alive(self) -> bool: ...

    @property
    def busy(self) -> bool: ...

    def hold_credentials(self, source: int, version: int, fields: dict[str, Any]) -> None: ...


class CredentialSource(Protocol):
    """What a connection needs of a refreshing credential source: its number (the worker files
    the credentials under it), a push of its current credentials to a holder (which returns their
    version), and word that a request signed with ``version`` was refused; and what a call's
    steps need: whether new credentials are due, and a refresh on a thread of its own."""

    @property
    def number(self) -> int: ...

    def push(self, holder: CredentialHolder) -> int: ...

    def refused(self, version: int) -> None: ...

    def due(self) -> bool: ...

    def refreshing(self) -> Future[None]: ...


@dataclass(frozen=True)
class StoreSpec:
    """What the worker needs to build a store: the ``register`` frame without its number."""

    url: str
    options: tuple[tuple[str, str], ...]
    client: tuple[tuple[str, Any], ...] = ()
    retry: tuple[tuple[str, Any], ...] = ()
    #: Whose pushed credentials sign the store's requests (a configuration's credential_provider).
    provider: CredentialSource | None = None
    #: A memory store lives in one worker: every call on it must go there.
    pinned: bool = field(init=False, compare=False)
    _hash: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Looked up by the pool and the connection on every call: worked out once.
        object.__setattr__(self, "pinned", self.url.startswith("memory:"))
        number = None if self.provider is None else self.provider.number
        object.__setattr__(
            self, "_hash", hash((self.url, self.options, self.client, self.retry, number))
        )

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        shown = {k: ("***" if is_secret_option(k) else v) for k, v in self.options}
        return f"StoreSpec(url={hide_query(self.url)!r}, options={shown!r})"
