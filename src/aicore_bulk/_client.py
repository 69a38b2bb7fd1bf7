"""The one object users hold: :class:`BulkClient`, its constructors and its public methods.

It wires the parts once (transport, credentials, limits, options, clock) into a
:class:`~aicore_bulk._run.Connection`; each method hands that to the run
(:mod:`aicore_bulk._run`), which does the work in order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Self, cast, overload

import anyio

from aicore_bulk._auth import Auth, ClientCredentials, StaticToken, X509Credentials
from aicore_bulk._checks import check_number
from aicore_bulk._clock import SYSTEM_CLOCK, Clock
from aicore_bulk._config import Settings, resolve_settings
from aicore_bulk._errors import InputError
from aicore_bulk._events import Listener
from aicore_bulk._fleet import (
    GroupSelection,
    dry_run_any,
    execute_any,
    resume_any,
    select_any,
)
from aicore_bulk._groups import ResourceGroups
from aicore_bulk._intake import Ids, SelectedIds
from aicore_bulk._logging import get_logger, log
from aicore_bulk._memory import LimitsMemory
from aicore_bulk._models import KINDS, Kind, Limits, RunOptions, Target
from aicore_bulk._report import Plan, Report
from aicore_bulk._retry import RetryPolicy
from aicore_bulk._run import Confirm, Connection, JournalPath, wait_gone
from aicore_bulk._selection import Selection
from aicore_bulk._transport import AiohttpTransport, Transport

_log = get_logger("memory")


class BulkClient:
    """Stops and deletes AI Core executions and deployments in bulk, safely.

    Use it as an async context manager::

        async with BulkClient.from_env() as client:
            report = await client.delete("executions", ids)

    Args:
        base_url: The AI API base URL (``https://api.ai.<region>.../v2``; ``/v2`` is added
            when missing).
        resource_group: The ``AI-Resource-Group`` every request is made in.
        auth: Where tokens come from; or give ``client_id``/``client_secret``/``auth_url``,
            or ``token``.
        limits: Concurrency and rate caps.
        retry: Tries, timeouts and backoff.
        options: How runs wait, read and pack (stop wait, poll interval, page size, batch
            wait, grace).
        transport: How requests are sent (default: aiohttp with TLS verification, presenting
            the client certificate of :class:`X509Credentials`).
        allow_insecure_http: Allow ``http://`` to hosts other than loopback (you are warned).
        listener: Receives progress events of every run (see ``aicore_bulk.events``).
        clock: Where runs read the time and sleep; ``aicore_bulk.testing.VirtualClock`` in
            tests.

    """

    def __init__(
        self,
        *,
        base_url: str,
        resource_group: str,
        auth: Auth | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        auth_url: str | None = None,
        token: str | None = None,
        limits: Limits | None = None,
        retry: RetryPolicy | None = None,
        options: RunOptions | None = None,
        transport: Transport | None = None,
        allow_insecure_http: bool = False,
        listener: Listener | None = None,
        clock: Clock | None = None,
    ) -> None:
        settings = resolve_settings(
            base_url=base_url,
            resource_group=resource_group,
            auth_url=auth_url,
            client_id=client_id,
            client_secret=client_secret,
            token=token,
            allow_insecure_http=allow_insecure_http,
            environ={},
            use_files=False,
            need_credentials=auth is None,
        )
        _check_types(limits=limits, retry=retry, options=options)
        limits = limits or Limits()
        retry = retry or RetryPolicy()
        clock = clock or SYSTEM_CLOCK
        auth = auth or _auth_from(settings, clock=clock, retry=retry)
        if transport is None:
            ssl_context = auth.ssl_context() if isinstance(auth, X509Credentials) else None
            transport = AiohttpTransport(connections=limits.concurrency, ssl_context=ssl_context)
        memory = None
        if limits.remember:
            memory = _memory_of(settings.base_url, auth, clock=clock)
        self._connection = Connection(
            base_url=settings.base_url,
            resource_group=cast("str", settings.resource_group),
            transport=transport,
            auth=auth,
            limits=limits,
            retry=retry,
            options=options or RunOptions(),
            clock=clock,
            listener=listener,
            memory=memory,
        )
        self._closed = False

    @classmethod
    def from_env(
        cls,
        *,
        profile: str | None = None,
        limits: Limits | None = None,
        retry: RetryPolicy | None = None,
        options: RunOptions | None = None,
        transport: Transport | None = None,
        listener: Listener | None = None,
        clock: Clock | None = None,
        **settings: Any,  # noqa: ANN401 - passed to resolve_settings
    ) -> Self:
        """A client configured as SAP's SDKs are.

        Each setting comes from the first of: these arguments, ``AICORE_*`` variables,
        ``AICORE_SERVICE_KEY``, ``~/.aicore/config.json`` (or a profile's), ``VCAP_SERVICES``.
        """
        resolved = resolve_settings(profile=profile, **settings)
        retry = retry or RetryPolicy()
        return cls(
            base_url=resolved.base_url,
            resource_group=cast("str", resolved.resource_group),
            auth=_auth_from(resolved, clock=clock or SYSTEM_CLOCK, retry=retry),
            limits=limits,
            retry=retry,
            options=options,
            transport=transport,
            allow_insecure_http=bool(settings.get("allow_insecure_http")),
            listener=listener,
            clock=clock,
        )

    def __repr__(self) -> str:
        connection = self._connection
        return (
            f"<BulkClient {connection.base_url} resource_group={connection.resource_group!r} "
            f"limits={connection.limits!r}>"
        )

    @property
    def resource_group(self) -> str:
        """The resource group every request of this client is made in."""
        return self._connection.resource_group

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close connections."""
        if not self._closed:
            self._closed = True
            await self._connection.transport.aclose()
            await self._connection.auth.aclose()

    async def delete(
        self,
        kind: Kind,
        ids: Ids | GroupSelection,
        *,
        deadline: float | None = None,
        confirm: Confirm | None = None,
        interrupt: anyio.Event | None = None,
        listener: Listener | None = None,
        journal: JournalPath | None = None,
        labels: Mapping[str, str] | None = None,
        include_running: bool = False,
    ) -> Report:
        """Delete every item of ``ids``, stopping first whatever must be stopped.

        Returns a report with every distinct ID exactly once. Per-item failures are in the
        report, not raised; call ``report.raise_for_failures()`` to raise them.

        Args:
            kind: ``"executions"`` or ``"deployments"``.
            ids: An iterable or async iterable of IDs.
            deadline: Seconds for the whole run; what has not settled by then is reported.
            confirm: Called with the :class:`Plan` before the first change; returning False
                raises :class:`RunDeclinedError` with nothing changed.
            interrupt: Once set, no new request is sent; requests in flight get ``grace``
                seconds, then the report is returned with ``interrupted`` set (items in
                flight ``unknown``, items never sent ``skipped``).
            listener: Receives this run's progress events.
            journal: A new file where the run records every item's fate as it goes, so that
                :meth:`resume` can finish the run after a crash or a kill.
            labels: Your own notes on the run (text to text: a ticket, a selection, a
                limit), kept in its audit trail: ``report.run.options.labels`` and the
                journal. Never put a secret here.
            include_running: Also stop (and then delete) PENDING and RUNNING deployments.
                They serve traffic, so without it they are ``skipped``, also when they turn
                RUNNING again during the run. Executions need no such consent.

        Raises:
            InputError: A malformed ID or an unknown kind, a journal path that exists, or
                labels that are not text, before anything is sent.
            AuthenticationError: The credentials were refused.
            ServiceError: The service could not be read before anything was changed.
            RunDeclinedError: ``confirm`` said no.
        """
        return await _execute(
            self._connection,
            kind,
            ids,
            Target.DELETED,
            closed=self._closed,
            deadline=deadline,
            confirm=confirm,
            interrupt=interrupt,
            listener=listener,
            journal=journal,
            labels=labels,
            include_running=include_running,
        )

    async def stop(
        self,
        kind: Kind,
        ids: Ids | GroupSelection,
        *,
        deadline: float | None = None,
        confirm: Confirm | None = None,
        interrupt: anyio.Event | None = None,
        listener: Listener | None = None,
        journal: JournalPath | None = None,
        labels: Mapping[str, str] | None = None,
        include_running: bool = False,
    ) -> Report:
        """Stop every PENDING or RUNNING item of ``ids``; see :meth:`delete` for the rest.

        Deployments serve traffic: they are stopped only with ``include_running=True``.
        """
        return await _execute(
            self._connection,
            kind,
            ids,
            Target.STOPPED,
            closed=self._closed,
            deadline=deadline,
            confirm=confirm,
            interrupt=interrupt,
            listener=listener,
            journal=journal,
            labels=labels,
            include_running=include_running,
        )

    async def plan(
        self,
        kind: Kind,
        ids: Ids | GroupSelection,
        *,
        target: Literal["DELETED", "STOPPED"] | Target = "DELETED",
        listener: Listener | None = None,
        include_running: bool = False,
    ) -> Plan:
        """A dry run: read statuses and say what a run would do, without changing anything.

        Args:
            kind: ``"executions"`` or ``"deployments"``.
            ids: An iterable or async iterable of IDs, or this client's :meth:`select`.
            target: ``"DELETED"`` (stop what must stop, then delete) or ``"STOPPED"``.
            listener: Receives this dry run's progress events.
            include_running: Plan as :meth:`delete` and :meth:`stop` would run with it.

        Raises:
            InputError: A malformed ID, an unknown kind or target (nothing is sent).
        """
        wanted = _target(target)
        _check_usable(closed=self._closed, kind=kind)
        return await dry_run_any(
            self._connection, kind, ids, wanted, listener=listener, include_running=include_running
        )

    @overload
    def select(self, kind: Kind, selection: Selection) -> SelectedIds: ...
    @overload
    def select(
        self, kind: Kind, selection: Selection, *, resource_groups: ResourceGroups
    ) -> GroupSelection: ...
    def select(
        self, kind: Kind, selection: Selection, *, resource_groups: ResourceGroups | None = None
    ) -> SelectedIds | GroupSelection:
        """The IDs of the items ``selection`` takes, streamed a list page at a time.

        Feed the result to :meth:`delete`, :meth:`stop` or :meth:`plan`: the run reads every
        page before it changes anything, so deleting cannot shift the pages under the
        selection. Given whole to this client, it also brings the statuses it was listed with,
        so the run does not list the group a second time. With ``resource_groups``, the run
        takes the selection in each of those groups, all under the client's one limit.

        Raises:
            InputError: An unknown kind or a selection that is not a :class:`Selection`
                (at once, before anything is sent).
        """
        _check_kind(kind)
        if not isinstance(selection, Selection):
            raise InputError(f"selection must be a Selection, not {type(selection).__name__}")
        return select_any(self._connection, kind, selection, resource_groups)

    async def wait_gone(self, kind: Kind, ids: Iterable[str], *, within: float) -> set[str]:
        """Wait until none of ``ids`` is listed any more (deleted items linger a while).

        Returns:
            The IDs still listed when ``within`` seconds had passed (empty: all gone).
        """
        _check_kind(kind)
        return await wait_gone(self._connection, kind, set(ids), within=within)

    async def resume(
        self,
        journal: JournalPath,
        *,
        deadline: float | None = None,
        interrupt: anyio.Event | None = None,
        listener: Listener | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Report:
        """Finish the run recorded in ``journal`` (after a kill, a crash or an interrupt).

        Items with a final outcome in the journal are reported as recorded and never sent
        again. Every other item (in doubt, failed, or never settled) has its status read
        afresh and takes the route that status calls for, minding the changes the earlier
        run may have made. The journal is updated as the items settle, so a resume can be
        resumed too.

        The resume is a run of its own: its report's ``run`` has a new ID, and ``run.resumes``
        names the run that wrote the journal. ``labels`` are as for :meth:`delete`.

        Returns:
            The report of the whole run: every ID of the original run exactly once.

        Raises:
            InputError: No journal at that path, or one written for another resource group
                or service.
        """
        _check_deadline(deadline)
        labels = _check_labels(labels)
        _check_usable(closed=self._closed)
        return await resume_any(
            self._connection,
            journal,
            deadline=deadline,
            interrupt=interrupt,
            listener=listener,
            labels=labels,
        )


async def _execute(
    connection: Connection,
    kind: Kind,
    ids: Ids | GroupSelection,
    target: Target,
    *,
    closed: bool,
    deadline: float | None,
    confirm: Confirm | None,
    interrupt: anyio.Event | None,
    listener: Listener | None,
    journal: JournalPath | None,
    labels: Mapping[str, str] | None,
    include_running: bool,
) -> Report:
    """A checked run of ``delete`` or ``stop``, in one group or across groups."""
    _check_deadline(deadline)
    labels = _check_labels(labels)
    _check_usable(closed=closed, kind=kind)
    return await execute_any(
        connection,
        kind,
        ids,
        target,
        deadline=deadline,
        confirm=confirm,
        interrupt=interrupt,
        listener=listener,
        journal=journal,
        labels=labels,
        include_running=include_running,
    )


def _check_usable(*, closed: bool, kind: str | None = None) -> None:
    """Refuse a closed client, or an unknown kind, before anything is sent."""
    if kind is not None:
        _check_kind(kind)
    if closed:
        raise InputError("this BulkClient is closed")


def _check_types(**values: object) -> None:
    """Each value is None or of the type its name calls for: a dict is no ``RunOptions``."""
    wanted: dict[str, type] = {"limits": Limits, "retry": RetryPolicy, "options": RunOptions}
    for name, value in values.items():
        if value is not None and not isinstance(value, wanted[name]):
            raise InputError(
                f"{name} must be a {wanted[name].__name__}, not {type(value).__name__}"
            )


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None:
        check_number("deadline", deadline, above=0)


def _check_labels(labels: Mapping[str, str] | None) -> dict[str, str] | None:
    """A copy of ``labels``, checked to be text to text (they go into JSON as they are)."""
    if labels is None:
        return None
    if not isinstance(labels, Mapping):
        raise InputError(f"labels must be a mapping of text to text, not {type(labels).__name__}")
    # Typed as text, but a caller's dict may hold anything: JSON would take a number, and a
    # resumed journal would then hand back something else than was given.
    for key, value in cast("Mapping[object, object]", labels).items():
        if not isinstance(key, str):
            raise InputError(f"labels must map text to text: key {key!r} is a {type(key).__name__}")
        if not isinstance(value, str):
            raise InputError(
                f"labels must map text to text: {key!r} maps to a {type(value).__name__}"
            )
    return dict(labels)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InputError(f"unknown kind {kind!r}: use 'executions' or 'deployments'")


def _target(value: str | Target) -> Target:
    try:
        return Target(value)
    except ValueError:
        raise InputError(f"unknown target {value!r}: use 'DELETED' or 'STOPPED'") from None


def _auth_from(settings: Settings, *, clock: Clock, retry: RetryPolicy) -> Auth:
    if settings.token is not None:
        return StaticToken(settings.token)
    if settings.client_secret is not None and settings.auth_url is not None:
        return ClientCredentials(
            settings.auth_url,
            cast("str", settings.client_id),
            settings.client_secret,
            clock=clock,
            retry=retry,
        )
    return X509Credentials(
        cast("str", settings.cert_url or settings.auth_url),
        cast("str", settings.client_id),
        cert_file=settings.cert_file,
        key_file=settings.key_file,
        cert_pem=settings.cert_pem,
        key_pem=settings.key_pem,
        clock=clock,
        retry=retry,
    )


def _memory_of(base_url: str, auth: Auth, *, clock: Clock) -> LimitsMemory | None:
    """Where this service's and tenant's limits are remembered (None: no tenant to key by).

    The tenant is the token URL's host (it carries the subaccount's subdomain, for X.509
    too). A static token or another ``Auth`` names no token URL, and limits learned from one
    tenant must not pace another: nothing is remembered.
    """
    if isinstance(auth, ClientCredentials):
        return LimitsMemory.for_service(base_url=base_url, token_url=auth.token_url, clock=clock)
    log(
        _log,
        logging.INFO,
        "limits are not remembered: %s names no tenant (no token URL)",
        type(auth).__name__,
    )
    return None
