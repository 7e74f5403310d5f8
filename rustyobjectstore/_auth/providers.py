"""Refreshing credential providers: a Python callable that hands out keys or a token with an expiry.

A configuration's ``credential_provider`` is called before its credentials expire (and again after
a request was refused, once), and what it returns is pushed to every worker holding that store:
inline, before the next call that needs it (workers spawned later get it on their first call), and
from a timer thread ahead of expiry for the requests that calls already in flight still make. A
worker signs every HTTP request with the newest credentials it was given, so a refresh never drops
a call in flight.

Async providers (coroutine functions) run on a private event loop thread, so that sync and async
callers alike can wait for them.
"""

from __future__ import annotations

import asyncio
import datetime
import inspect
import itertools
import threading
import weakref
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from rustyobjectstore._errors import ConfigurationError, ObjectStoreError, PermissionDeniedError
from rustyobjectstore._worker.forks import PROVIDERS, after_fork_in_child
from rustyobjectstore._worker.spec import CredentialHolder

#: Refresh this long before expiry, or half the lifetime of short-lived credentials.
REFRESH_MARGIN = datetime.timedelta(minutes=5)
# A provider that hands out credentials already expired (or about to) is asked again at most
# this often while calls are in flight, not in a busy loop.
MIN_REFRESH_SECS = 0.5
#: How long a provider may take.
PROVIDER_TIMEOUT_SECS = 60.0
PROVIDER_LOOP_THREAD = "rustyobjectstore-providers"


@dataclass(frozen=True, repr=False)
class AWSCredentials:
    """What an AWS credential provider returns: keys, an optional session token and, for
    temporary credentials, when they expire (an aware datetime); its repr hides the secrets:
    ``AWSConfig("us-east-1", "b", credential_provider=lambda: AWSCredentials(key_id, secret))``."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None
    expires_at: datetime.datetime | None = None

    def __repr__(self) -> str:
        return f"AWSCredentials(access_key_id={self.access_key_id!r}, secret_access_key='***', expires_at={self.expires_at!r})"


@dataclass(frozen=True, repr=False)
class BearerToken:
    """What an Azure or GCS credential provider returns: an OAuth2 access token (for Azure, one
    for the scope ``https://storage.azure.com/.default``) and when it expires (an aware
    datetime); its repr hides the token:
    ``BearerToken(token, expires_at=datetime.now(timezone.utc) + timedelta(hours=1))``."""

    token: str
    expires_at: datetime.datetime | None = None

    def __repr__(self) -> str:
        return f"BearerToken(token='***', expires_at={self.expires_at!r})"


Credentials = AWSCredentials | BearerToken
CredentialProvider = Callable[[], Credentials | Awaitable[Credentials]]
"""A callable with no arguments returning ``AWSCredentials`` (S3) or ``BearerToken`` (Azure,
GCS), or a coroutine function returning one."""


class _ProviderLoop:
    """The event loop async providers run on (one thread, started on first use)."""

    _loop: asyncio.AbstractEventLoop | None = None
    _lock = threading.Lock()

    @classmethod
    def get(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None or cls._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(
                    target=loop.run_forever, name=PROVIDER_LOOP_THREAD, daemon=True
                ).start()
                cls._loop = loop
            return cls._loop

    @classmethod
    def run(cls, awaitable: Awaitable[Credentials]) -> Credentials:
        async def wait() -> Credentials:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wait(), cls.get()).result(PROVIDER_TIMEOUT_SECS)


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class Provider:
    """One credential provider, shared by every configuration and worker that uses it."""

    _numbers = itertools.count(1)

    def __init__(
        self, call: CredentialProvider, expected: type[AWSCredentials] | type[BearerToken]
    ):
        self.number = next(self._numbers)
        self._call = call
        self._expected = expected
        self._lock = threading.Lock()  # one refresh at a time
        self._value: Credentials | None = None
        self._version = 0
        self._refresh_at: datetime.datetime | None = None
        # The version a refused request was signed with: when it is still the current one, the
        # next use fetches new credentials.
        self._refused = 0
        self._holders: weakref.WeakSet[CredentialHolder] = weakref.WeakSet()
        self._timer: threading.Timer | None = None

    def _fetch(self) -> Credentials:
        try:
            value: Any = self._call()
            if inspect.isawaitable(value):
                value = _ProviderLoop.run(value)
        except ObjectStoreError:
            # This library's own sources and adapters: their messages carry no secret.
            raise
        except Exception as exc:
            # The provider's own message may quote what it was handed: only its type is shown.
            raise PermissionDeniedError(
                f"the credential provider failed ({type(exc).__name__}); see the cause"
            ) from exc
        if not isinstance(value, self._expected):
            raise ConfigurationError(
                f"the credential provider returned {type(value).__name__}, not "
                f"{self._expected.__name__}"
            )
        expires = value.expires_at
        if expires is not None and expires.tzinfo is None:
            raise ConfigurationError("a credential's expires_at must be an aware datetime")
        return value

    def due(self) -> bool:
        """Whether the next use calls the provider: nothing yet, refused, or near expiry."""
        return (
            self._value is None
            or self._refused == self._version
            or (self._refresh_at is not None and _utc_now() >= self._refresh_at)
        )

    def refreshing(self) -> Future[None]:
        """``current()`` on a thread of its own, for a call's steps to wait for: a provider may
        take seconds (an HTTP call, a file read), and an event loop driving the call goes on
        meanwhile."""
        future: Future[None] = Future()

        def refresh() -> None:
            try:
                self.current()
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(None)

        threading.Thread(target=refresh, name="rustyobjectstore-provider", daemon=True).start()
        return future

    def current(self) -> tuple[Credentials, int]:
        """The credentials to use now and their version, refreshed first when they are due."""
        with self._lock:
            if self.due():
                try:
                    self._store(self._fetch())
                except PermissionDeniedError:
                    # Keep what still works; fail only when nothing does. A refusal earns one
                    # new fetch, not one per call.
                    if self._value is None or self._expired(self._value):
                        raise
                    self._refused = 0
            assert self._value is not None
            if self._timer is None and self._refresh_at is not None:
                self._schedule()
            return self._value, self._version

    @staticmethod
    def _expired(value: Credentials) -> bool:
        return value.expires_at is not None and value.expires_at <= _utc_now()

    def _store(self, value: Credentials) -> None:
        self._value = value
        self._version += 1
        expires = value.expires_at
        if expires is None:
            self._refresh_at = None
            return
        margin = min(REFRESH_MARGIN, max(expires - _utc_now(), datetime.timedelta(0)) / 2)
        self._refresh_at = expires - margin
        if self._timer is not None:
            self._timer.cancel()  # current() schedules one for the new expiry
            self._timer = None

    def _schedule(self) -> None:
        assert self._refresh_at is not None
        delay = max((self._refresh_at - _utc_now()).total_seconds(), MIN_REFRESH_SECS)
        timer = threading.Timer(delay, self._refresh_holders)
        timer.daemon = True
        timer.start()
        self._timer = timer

    def _refresh_holders(self) -> None:
        """Ahead of expiry: fresh credentials to every worker with calls in flight, for the
        requests those calls will still make. An idle provider stops here: nothing runs in the
        background once the calls are done, and the next call's push fetches and schedules again."""
        with self._lock:
            self._timer = None
        try:
            for conn in list(self._holders):
                if conn.alive and conn.busy:
                    self.push(conn)
        except Exception:
            pass

    def refused(self, version: int) -> None:
        """A request signed with ``version`` was refused: if no newer credentials came since,
        the next use fetches some. Takes no lock: it runs on a connection's reader thread, which
        must never wait for a provider."""
        self._refused = version

    def push(self, holder: CredentialHolder) -> int:
        """Makes sure ``holder``'s worker holds the current credentials; returns their version."""
        value, version = self.current()
        self._holders.add(holder)
        holder.hold_credentials(self.number, version, credentials_fields(value))
        return version


def credentials_fields(value: Credentials) -> dict[str, Any]:
    """The ``credentials`` frame's fields for ``value`` (protocol.md section 5)."""
    if isinstance(value, AWSCredentials):
        aws = {"key_id": value.access_key_id, "secret_key": value.secret_access_key}
        if value.session_token:
            aws["token"] = value.session_token
        return {"aws": aws}
    return {"bearer": value.token}


_providers: dict[Any, Provider] = {}
_providers_lock = threading.Lock()


def provider_for(
    call: CredentialProvider, expected: type[AWSCredentials] | type[BearerToken]
) -> Provider:
    """The one ``Provider`` of the callable ``call`` in this process."""
    if not callable(call):
        raise ConfigurationError(
            f"credential_provider must be a callable, got {type(call).__name__}"
        )
    with _providers_lock:
        found = _providers.get(call)
        if found is None:
            found = _providers[call] = Provider(call, expected)
        return found


def _after_fork_in_child() -> None:
    # The parent's threads (the provider loop, refresh timers, a thread inside a refresh holding
    # a lock) do not exist here; the child's workers are new too and get credentials on first use.
    global _providers_lock
    _ProviderLoop._loop = None
    _ProviderLoop._lock = threading.Lock()
    _providers_lock = threading.Lock()
    for provider in _providers.values():
        provider._lock = threading.Lock()
        provider._timer = None
        provider._holders = weakref.WeakSet()


after_fork_in_child(PROVIDERS, _after_fork_in_child)
