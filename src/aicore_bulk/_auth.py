"""Bearer tokens: client credentials (cached, fetched once however many wait), X.509, static.

A token is fetched before anything else is sent, so a bad secret fails the run at once,
with nothing changed. Tokens, secrets and keys never appear in a repr, a log line or an error.
"""

from __future__ import annotations

import json
import logging
import math
import os
import ssl
import tempfile
from pathlib import Path
from typing import Protocol

import anyio
import attrs

from aicore_bulk._clock import SYSTEM_CLOCK, Clock
from aicore_bulk._errors import AuthenticationError, BulkError, ConfigurationError, ServiceError
from aicore_bulk._logging import get_logger, log
from aicore_bulk._retry import (
    CONNECT_WAIT,
    RETRYABLE_STATUSES,
    RetryPolicy,
    backoff_waits,
    retry_after,
)
from aicore_bulk._transport import Request, Response, Transport, TransportError, host_of

#: Seconds a token lives when the token endpoint does not say (or says nonsense).
_DEFAULT_LIFETIME = 3600.0
#: Refresh a token this long before the service says it expires (or at 90 % of a short life).
_REFRESH_MARGIN = 60.0
_TOKEN_ATTEMPTS = 4

_log = get_logger("auth")


class Auth(Protocol):
    """Where bearer tokens come from."""

    async def token(self, transport: Transport) -> str:
        """A valid bearer token, fetching one if needed."""
        ...

    def invalidate(self, token: str) -> None:
        """The API refused ``token`` (401): do not hand it out again."""
        ...

    async def aclose(self) -> None:
        """Release whatever the credentials hold (the client calls it when it closes)."""
        ...


@attrs.define(eq=False)
class StaticToken:
    """A bearer token obtained elsewhere; it is never refreshed."""

    _token: str = attrs.field(repr=False, alias="token")
    _refused: bool = attrs.field(default=False, init=False, repr=False)

    async def token(self, transport: Transport) -> str:  # noqa: ARG002 - part of the protocol
        """The token, unless the API already refused it."""
        if self._refused:
            raise AuthenticationError("the API refused the static bearer token (401)", status=401)
        return self._token

    def invalidate(self, token: str) -> None:
        """Remember that the API refused the token."""
        if token == self._token:
            self._refused = True

    async def aclose(self) -> None:
        """Nothing to release."""


@attrs.define(eq=False)
class ClientCredentials:
    """OAuth client credentials: ``POST {token_url}`` with the id and secret in the form body."""

    token_url: str
    client_id: str
    client_secret: str = attrs.field(repr=False)
    clock: Clock = attrs.field(default=SYSTEM_CLOCK, repr=False, kw_only=True)
    retry: RetryPolicy = attrs.field(factory=RetryPolicy, repr=False, kw_only=True)
    _token: str | None = attrs.field(default=None, init=False, repr=False)
    _expires_at: float = attrs.field(default=0.0, init=False, repr=False)
    _lock: anyio.Lock = attrs.field(factory=anyio.Lock, init=False, repr=False)
    fetches: int = attrs.field(default=0, init=False)

    def _form(self) -> dict[str, str]:
        return {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }

    async def token(self, transport: Transport) -> str:
        """The cached token, or a new one; concurrent callers share one fetch."""
        if self._token is not None and self.clock.monotonic() < self._expires_at:
            return self._token
        async with self._lock:
            # Someone else may have fetched it while we waited for the lock.
            if self._token is not None and self.clock.monotonic() < self._expires_at:
                return self._token
            token, lifetime = await fetch_token(
                transport,
                Request(
                    "POST", self.token_url, form=self._form(), timeout=self.retry.request_timeout
                ),
                retry=self.retry,
                clock=self.clock,
                first=self.fetches == 0,
            )
            self.fetches += 1
            self._token = token
            self._expires_at = self.clock.monotonic() + max(
                lifetime * 0.9 if lifetime < 10 * _REFRESH_MARGIN else lifetime - _REFRESH_MARGIN,
                0.0,
            )
            return token

    def invalidate(self, token: str) -> None:
        """Drop the cached token if it is the one the API refused."""
        if token == self._token:
            self._token = None

    async def aclose(self) -> None:
        """Nothing to release: connections belong to the transport."""


@attrs.define(eq=False)
class X509Credentials(ClientCredentials):
    """OAuth client credentials proven by a client certificate instead of a secret.

    The certificate travels in the transport's TLS context (:meth:`ssl_context`), not in the
    credentials: ``BulkClient`` builds its ``AiohttpTransport`` with it, and a transport you
    give yourself must present it.
    """

    client_secret: str = attrs.field(default="", repr=False)
    cert_file: str | None = attrs.field(default=None, kw_only=True)
    key_file: str | None = attrs.field(default=None, kw_only=True, repr=False)
    cert_pem: str | None = attrs.field(default=None, kw_only=True, repr=False)
    key_pem: str | None = attrs.field(default=None, kw_only=True, repr=False)

    def _form(self) -> dict[str, str]:
        return {"grant_type": "client_credentials", "client_id": self.client_id}

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying TLS context that presents the client certificate.

        Raises:
            ConfigurationError: The certificate or key is missing or cannot be loaded (the
                message names no part of either).
        """
        context = ssl.create_default_context()
        try:
            if self.cert_file and self.key_file:
                context.load_cert_chain(self.cert_file, self.key_file)
                return context
            if not (self.cert_pem and self.key_pem):
                raise ConfigurationError("X.509 auth needs a certificate and its key")
            # ssl only loads certificates from files: write them where only we can read, briefly.
            with tempfile.TemporaryDirectory() as folder:
                cert_path, key_path = Path(folder) / "cert.pem", Path(folder) / "key.pem"
                for path, pem in ((cert_path, self.cert_pem), (key_path, self.key_pem)):
                    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(descriptor, "w") as file:
                        file.write(pem)
                context.load_cert_chain(cert_path, key_path)
        except (OSError, ssl.SSLError) as error:
            # The reason only (ssl's own words, e.g. "[SSL] PEM lib"), never the PEM text.
            reason = getattr(error, "reason", None) or type(error).__name__
            raise ConfigurationError(
                f"cannot load the X.509 client certificate and key: {reason}"
            ) from None
        return context


async def fetch_token(
    transport: Transport,
    request: Request,
    *,
    retry: RetryPolicy,
    clock: Clock,
    first: bool = True,
) -> tuple[str, float]:
    """POST to the token endpoint; returns (token, lifetime in seconds).

    Retries throttling, 5xx and dropped connections a few times; a refusal (400, 401, 403)
    fails at once with :class:`AuthenticationError`. On the ``first`` fetch, a failed
    connection is tried again soon (see :data:`~aicore_bulk._retry.CONNECT_WAIT`): a wrong
    URL is reported in seconds.
    """
    waits = backoff_waits(retry)
    connected = False
    for attempt in range(1, _TOKEN_ATTEMPTS + 1):
        try:
            response = await transport.send(request)
        except TransportError as error:
            connect = error.kind == "connect"
            connected |= not connect
            if attempt == _TOKEN_ATTEMPTS:
                failed = ServiceError(_no_answer(request.url, error, connected=connected))
                _log_failed(failed, attempt=attempt)
                raise failed from None
            wait = next(waits)
            wait = min(wait, CONNECT_WAIT) if connect and first else wait
            _log_retry(request.url, f"did not answer ({error})", attempt=attempt, wait=wait)
            await clock.sleep(wait)
            continue
        if response.status in RETRYABLE_STATUSES and attempt < _TOKEN_ATTEMPTS:
            asked = retry_after(response.headers, now=clock.time)
            wait = next(waits)
            wait = min(retry.wait_max, asked) if asked is not None else wait
            answered = f"answered HTTP {response.status}"
            _log_retry(request.url, answered, attempt=attempt, wait=wait, status=response.status)
            await clock.sleep(wait)
            continue
        try:
            token, lifetime = _parse_token(request.url, response)
        except BulkError as error:
            _log_failed(error, attempt=attempt, status=response.status)
            raise
        log(_log, logging.DEBUG, "token fetched; it lives %.0f s", lifetime, lifetime=lifetime)
        return token, lifetime
    raise AssertionError("unreachable")  # pragma: no cover


def _log_retry(
    url: str, what: str, *, attempt: int, wait: float, status: int | None = None
) -> None:
    log(
        _log,
        logging.WARNING,
        "token fetch failed: the token endpoint %s %s (try %d of %d); trying again in %.1f s",
        url,
        what,
        attempt,
        _TOKEN_ATTEMPTS,
        wait,
        url=url,
        status=status,
        attempt=attempt,
        wait=round(wait, 3),
    )


def _log_failed(error: BulkError, *, attempt: int, status: int | None = None) -> None:
    # The error's message names the endpoint and the reason, never the secret or a token.
    log(
        _log,
        logging.WARNING,
        "token fetch failed: %s",
        error,
        status=status,
        attempt=attempt,
    )


def _no_answer(url: str, error: TransportError, *, connected: bool) -> str:
    """Why the token endpoint gave no answer in any of its tries, for a person."""
    tries = f"after {_TOKEN_ATTEMPTS} tries"
    if not connected:
        return f"cannot reach the token endpoint at {host_of(url)}: {error} ({tries})"
    return f"the token endpoint {url} did not answer: {error} ({tries})"


def _parse_token(url: str, response: Response) -> tuple[str, float]:
    if response.status in {400, 401, 403}:
        raise AuthenticationError(
            f"the token endpoint {url} refused the credentials ({response.status}"
            f"{_oauth_reason(response)}): check the client id and secret or certificate",
            status=response.status,
        )
    if response.status != 200:  # noqa: PLR2004
        raise ServiceError(
            f"the token endpoint {url} answered HTTP {response.status}"
            + (" (still throttled after retries)" if response.status == 429 else ""),  # noqa: PLR2004
            status=response.status,
        )
    try:
        body = json.loads(response.body)
        token, lifetime = body["access_token"], float(body.get("expires_in", _DEFAULT_LIFETIME))
    except (ValueError, KeyError, TypeError):
        raise ServiceError(
            f"the token endpoint {url} answered 200 without a usable token"
        ) from None
    if not isinstance(token, str) or not token:
        raise ServiceError(f"the token endpoint {url} answered 200 without a usable token")
    if not math.isfinite(lifetime) or lifetime <= 0:
        lifetime = _DEFAULT_LIFETIME  # a nonsense lifetime would mean a fetch per request
    return token, lifetime


def _oauth_reason(response: Response) -> str:
    """``: description`` from an OAuth error body, when there is one (it holds no secret)."""
    try:
        body = json.loads(response.body)
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    reason = body.get("error_description") or body.get("error")
    return f": {str(reason)[:200]}" if reason else ""
