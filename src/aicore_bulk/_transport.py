"""The I/O seam: a small :class:`Transport` protocol, and its aiohttp and in-memory forms.

The engine sends every request through a ``Transport``; nothing above this module knows
aiohttp. A transport never retries and never interprets statuses: that is the engine's job.
:class:`AiohttpTransport` says who is asking: every request it sends, to the API and to the
token endpoint, carries :data:`USER_AGENT` (the service's operators can tell our traffic
apart, and a support case can name the version).
"""

from __future__ import annotations

import errno
import platform
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Final, Literal, Protocol
from urllib.parse import urlsplit

import aiohttp
import attrs

from aicore_bulk._version import __version__

#: ``aicore-bulk/<version> Python/<x.y.z> aiohttp/<version>``, on every request.
USER_AGENT: Final = (
    f"aicore-bulk/{__version__} Python/{platform.python_version()} aiohttp/{aiohttp.__version__}"
)


@attrs.frozen
class Request:
    """One HTTP request, as the engine means it."""

    method: str
    url: str
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)  # holds the bearer token
    params: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes | None = None
    #: A form body (the token endpoint), sent URL-encoded.
    form: Mapping[str, str] | None = attrs.field(default=None, repr=False)
    timeout: float = 30.0


@attrs.frozen
class Response:
    """One HTTP answer: status, headers and the whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


FailureKind = Literal["connect", "dropped", "timeout"]


class TransportError(Exception):
    """No answer came back.

    Attributes:
        kind: ``connect`` (the request never left: safe to send again), ``dropped``
            (the connection broke after sending) or ``timeout``. After the last two, the
            server may or may not have acted on the request.
        detail: What went wrong, in words for a person (the error's message).

    """

    def __init__(self, kind: FailureKind, detail: str) -> None:
        super().__init__(detail)
        self.kind: FailureKind = kind
        self.detail = detail

    @property
    def maybe_applied(self) -> bool:
        """Whether the server might have acted on the request."""
        return self.kind != "connect"


class Transport(Protocol):
    """Sends one request and returns its answer, or raises :class:`TransportError`."""

    async def send(self, request: Request) -> Response:
        """Send ``request``; raise :class:`TransportError` when no answer comes back."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class AiohttpTransport:
    """A :class:`Transport` over an aiohttp session, with TLS verification on.

    Every request carries ``User-Agent: aicore-bulk/<version> Python/<x.y.z> aiohttp/<version>``.

    Args:
        connections: Connection pool size; the engine's concurrency limit should not exceed it.
        ssl_context: A custom TLS context (an X.509 client certificate, a private CA).
            None uses the system's trust store and verifies certificates.

    """

    def __init__(
        self, *, connections: int = 100, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._connections = connections
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"<AiohttpTransport connections={self._connections}>"

    def _open(self) -> aiohttp.ClientSession:
        # Created lazily so that the session binds to the loop that uses it.
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._connections, ssl=self._ssl)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": USER_AGENT}, raise_for_status=False
            )
        return self._session

    async def send(self, request: Request) -> Response:
        """Send one request over the pooled session."""
        session = self._open()
        data: bytes | Mapping[str, str] | None = request.body
        if request.form is not None:
            data = dict(request.form)
        try:
            async with session.request(
                request.method,
                request.url,
                headers=dict(request.headers),
                params=dict(request.params) or None,
                data=data,
                timeout=aiohttp.ClientTimeout(
                    total=request.timeout, sock_connect=min(request.timeout, _CONNECT_TIMEOUT)
                ),
            ) as response:
                body = await response.read()
                return Response(response.status, dict(response.headers), body)
        except aiohttp.ClientConnectorError as error:
            raise TransportError("connect", _describe(error)) from None
        except aiohttp.ConnectionTimeoutError:
            # No connection was made, so nothing was sent: as safe to send again as a refusal.
            wait = min(request.timeout, _CONNECT_TIMEOUT)
            raise TransportError("connect", f"no connection within {wait:g} s") from None
        except TimeoutError:
            raise TransportError("timeout", f"no answer within {request.timeout} s") from None
        except aiohttp.ClientError as error:
            raise TransportError("dropped", _describe(error)) from None

    async def aclose(self) -> None:
        """Close the session and its connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None


#: Seconds to wait for a connection (within the request's timeout): a host that does not
#: answer at all is reported in seconds, and a request that never connected is safe to resend.
_CONNECT_TIMEOUT: Final = 10.0
#: Why a connection failed, in words for a person, by ``errno``.
_CONNECT_REASONS: Final = {
    errno.ECONNREFUSED: "the connection was refused",
    errno.ECONNRESET: "the connection was reset",
    errno.EHOSTUNREACH: "the host is unreachable",
    errno.ENETUNREACH: "the network is unreachable",
    errno.ETIMEDOUT: "the connection timed out",
    errno.EADDRNOTAVAIL: "the address is not available",
}


#: What some of aiohttp's errors mean, for a person.
_MEANINGS: Final = (
    (aiohttp.ClientConnectorDNSError, "the name does not resolve"),
    (aiohttp.ServerDisconnectedError, "the server closed the connection before it answered"),
    (aiohttp.ClientPayloadError, "the answer was cut off"),
)


def _describe(error: aiohttp.ClientError) -> str:
    """What went wrong, for a person: never an exception's class name, never the request.

    aiohttp's own messages can embed the request, and its class names mean nothing to the
    person who reads a report or an error line.
    """
    for kind, meaning in _MEANINGS:
        if isinstance(error, kind):
            return meaning
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        cause = error.certificate_error
        reason = getattr(cause, "verify_message", None) or getattr(cause, "reason", None)
        return f"the server's TLS certificate was refused: {reason or 'not trusted'}"
    if isinstance(error, aiohttp.ClientSSLError):
        return f"the TLS handshake failed: {getattr(error, 'reason', None) or 'no reason given'}"
    if isinstance(error, aiohttp.ClientOSError) and error.errno in _CONNECT_REASONS:
        return _CONNECT_REASONS[error.errno]
    if isinstance(error, aiohttp.ClientConnectorError):
        return f"cannot connect: {error.strerror or 'no reason given'}"
    text = str(error).splitlines()[0] if str(error) else ""
    return f"the connection broke: {text}" if text else "the connection broke"


def host_of(url: str) -> str:
    """The host (and port, when the URL names one) a URL points to, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or url
    try:
        port = parts.port
    except ValueError:
        port = None
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


Handler = Callable[[Request], Awaitable[Response]]


class MockTransport:
    """A :class:`Transport` that answers from a function, without any network (as httpx's).

    Args:
        handler: An async function from :class:`Request` to :class:`Response`; it may raise
            :class:`TransportError` to simulate a dropped connection or a timeout.

    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler

    async def send(self, request: Request) -> Response:
        """Answer with the handler."""
        return await self._handler(request)

    async def aclose(self) -> None:
        """Nothing to release."""
