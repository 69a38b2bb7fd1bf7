"""The one object users hold: :class:`BulkClient`."""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any, Literal, Self, cast

import anyio
import attrs

from aicore_bulk._api import Api
from aicore_bulk._auth import Auth, ClientCredentials, StaticToken, X509Credentials
from aicore_bulk._caller import Caller
from aicore_bulk._checks import check_number
from aicore_bulk._config import Settings, resolve_settings
from aicore_bulk._engine import Engine, EngineSettings, ItemState
from aicore_bulk._errors import BulkError, InputError, RunDeclinedError
from aicore_bulk._events import Listener
from aicore_bulk._gc import collector_paused
from aicore_bulk._journal import Journal, RunRecord
from aicore_bulk._models import KINDS, Kind, Limits, Status, Target
from aicore_bulk._planner import Path, check_id, intake, intake_async, minimum_requests
from aicore_bulk._rate import Pacer
from aicore_bulk._report import ItemResult, Report
from aicore_bulk._retry import RetryBudget, RetryPolicy
from aicore_bulk._selection import Selection, select_statuses
from aicore_bulk._transport import AiohttpTransport, Transport

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
Ids = Iterable[str] | AsyncIterable[str]
JournalPath = str | os.PathLike[str]
#: Called with the plan before the first change; False declines the run.
Confirm = Callable[["Plan"], bool | Awaitable[bool]]


@attrs.frozen
class PlannedItem:
    """One item of a dry run: its status and what a real run would do."""

    id: str
    status: str | None
    path: Path
    reason: str | None


@attrs.frozen(kw_only=True)
class Plan:
    """What a run would do, learned by reading only.

    Attributes:
        paths: Items per path (``delete``, ``stop_then_delete``, ``wait_then_delete``, ``stop``,
            ``unchanged``, ``absent``, ``skip``).
        requests: The fewest mutating requests the run needs with no faults.
        reads: Requests this dry run spent reading.

    """

    kind: Kind
    target: Target
    items: tuple[PlannedItem, ...]
    paths: Mapping[str, int]
    requests: int
    reads: int
    duplicates: int

    def to_json(self) -> dict[str, Any]:
        """A JSON form like the report's."""
        return {
            "kind": self.kind,
            "target": self.target.value,
            "dry_run": True,
            "summary": {
                "total": len(self.items),
                "paths": dict(self.paths),
                "requests": self.requests,
                "reads": self.reads,
                "duplicates": self.duplicates,
            },
            "items": [
                {"id": i.id, "status": i.status, "path": i.path.value, "reason": i.reason}
                for i in self.items
            ],
        }


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
        transport: How requests are sent (default: aiohttp with TLS verification).
        stop_wait: Seconds to wait for a stopped item to leave STOPPING before giving up on it.
        poll_interval: Seconds between looks at the STOPPING items.
        page_size: Items per list page when reading statuses (at most 100,000).
        hold: Seconds a change may wait to share a request with others.
        grace: Seconds requests in flight get to answer after an ``interrupt``.
        allow_insecure_http: Allow ``http://`` to hosts other than loopback (you are warned).
        listener: Receives progress events of every run (see ``aicore_bulk.events``).
        clock, sleep, wall_clock: Time sources, to inject in tests.

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
        transport: Transport | None = None,
        stop_wait: float = 600.0,
        poll_interval: float = 2.0,
        page_size: int = 100_000,
        hold: float = 10.0,
        grace: float = 5.0,
        allow_insecure_http: bool = False,
        listener: Listener | None = None,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        wall_clock: Clock | None = None,
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
        self._setup(
            settings,
            auth=auth,
            limits=limits,
            retry=retry,
            transport=transport,
            engine=_engine_settings(stop_wait, poll_interval, page_size, hold),
            grace=grace,
            listener=listener,
            clock=clock,
            sleep=sleep,
            wall_clock=wall_clock,
        )

    @classmethod
    def from_env(
        cls,
        *,
        profile: str | None = None,
        limits: Limits | None = None,
        retry: RetryPolicy | None = None,
        transport: Transport | None = None,
        stop_wait: float = 600.0,
        poll_interval: float = 2.0,
        page_size: int = 100_000,
        hold: float = 10.0,
        grace: float = 5.0,
        listener: Listener | None = None,
        **settings: Any,  # noqa: ANN401 - passed to resolve_settings
    ) -> Self:
        """A client configured as SAP's SDKs are.

        Each setting comes from the first of: these arguments, ``AICORE_*`` variables,
        ``AICORE_SERVICE_KEY``, ``~/.aicore/config.json`` (or a profile's), ``VCAP_SERVICES``.
        """
        resolved = resolve_settings(profile=profile, **settings)
        client = cls.__new__(cls)
        client._setup(  # noqa: SLF001 - the alternative constructor
            resolved,
            auth=None,
            limits=limits,
            retry=retry,
            transport=transport,
            engine=_engine_settings(stop_wait, poll_interval, page_size, hold),
            grace=grace,
            listener=listener,
            clock=None,
            sleep=None,
            wall_clock=None,
        )
        return client

    def _setup(
        self,
        settings: Settings,
        *,
        auth: Auth | None,
        limits: Limits | None,
        retry: RetryPolicy | None,
        transport: Transport | None,
        engine: EngineSettings,
        grace: float,
        listener: Listener | None,
        clock: Clock | None,
        sleep: Sleep | None,
        wall_clock: Clock | None,
    ) -> None:
        self._base_url = settings.base_url
        self._resource_group = cast("str", settings.resource_group)
        self._limits = limits or Limits()
        self._retry = retry or RetryPolicy()
        self._transport = transport or AiohttpTransport(connections=self._limits.concurrency)
        self._engine_settings = engine
        check_number("grace", grace, at_least=0)
        self._grace = grace
        self._listener = listener
        self._clock = clock or time.monotonic
        self._sleep = sleep or asyncio.sleep
        self._wall_clock = wall_clock or time.time
        self._auth = auth or _auth_from(
            settings, clock=self._clock, sleep=self._sleep, retry=self._retry
        )
        self._bulk: dict[Kind, bool] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"<BulkClient {self._base_url} resource_group={self._resource_group!r} "
            f"limits={self._limits!r}>"
        )

    @property
    def resource_group(self) -> str:
        """The resource group every request of this client is made in."""
        return self._resource_group

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close connections."""
        if not self._closed:
            self._closed = True
            await self._transport.aclose()
            if isinstance(self._auth, X509Credentials):
                await self._auth.aclose()

    async def delete(
        self,
        kind: Kind,
        ids: Ids,
        *,
        deadline: float | None = None,
        confirm: Confirm | None = None,
        interrupt: anyio.Event | None = None,
        listener: Listener | None = None,
        journal: JournalPath | None = None,
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
                flight ``unknown``, items never sent ``failed``).
            listener: Receives this run's progress events.
            journal: A new file where the run records every item's fate as it goes, so that
                :meth:`resume` can finish the run after a crash or a kill.

        Raises:
            InputError: A malformed ID or an unknown kind, or a journal path that exists,
                before anything is sent.
            AuthenticationError: The credentials were refused.
            ServiceError: The service could not be read before anything was changed.
            RunDeclinedError: ``confirm`` said no.
        """
        return await self._run(
            kind,
            ids,
            Target.DELETED,
            deadline=deadline,
            confirm=confirm,
            interrupt=interrupt,
            listener=listener,
            journal=journal,
        )

    async def stop(
        self,
        kind: Kind,
        ids: Ids,
        *,
        deadline: float | None = None,
        confirm: Confirm | None = None,
        interrupt: anyio.Event | None = None,
        listener: Listener | None = None,
        journal: JournalPath | None = None,
    ) -> Report:
        """Stop every PENDING or RUNNING item of ``ids``; see :meth:`delete` for the rest."""
        return await self._run(
            kind,
            ids,
            Target.STOPPED,
            deadline=deadline,
            confirm=confirm,
            interrupt=interrupt,
            listener=listener,
            journal=journal,
        )

    async def plan(
        self,
        kind: Kind,
        ids: Ids,
        *,
        target: Literal["DELETED", "STOPPED"] | Target = "DELETED",
        listener: Listener | None = None,
    ) -> Plan:
        """A dry run: read statuses and say what a run would do, without changing anything."""
        wanted = _target(target)
        _check_kind(kind)
        distinct, duplicates, listed = await self._intake(kind, ids)
        engine, caller = await self._prepare(
            kind, distinct, wanted, listener=listener, statuses_known=listed
        )
        return _plan_of(
            engine, engine.plan(), duplicates=duplicates, reads=caller.counters.requests
        )

    def select(
        self, kind: Kind, selection: Selection, *, page_size: int | None = None
    ) -> AsyncIterator[str]:
        """The IDs of the items ``selection`` takes, streamed a list page at a time.

        Feed the result to :meth:`delete`, :meth:`stop` or :meth:`plan`: the run reads every
        page before it changes anything, so deleting cannot shift the pages under the
        selection. Given whole to this client, it also brings the statuses it was listed with,
        so the run does not list the group a second time.

        Raises:
            InputError: An unknown kind or a selection that is not a :class:`Selection`
                (at once, before anything is sent).
        """
        _check_kind(kind)
        if not isinstance(selection, Selection):
            raise InputError(f"selection must be a Selection, not {type(selection).__name__}")
        return _Selected(self, kind, self._selected_statuses(kind, selection, page_size))

    async def _selected_statuses(
        self, kind: Kind, selection: Selection, page_size: int | None
    ) -> AsyncIterator[tuple[str, Status]]:
        caller = self._new_caller(listener=None, items=0)
        await self._auth.token(self._transport)
        api = Api(caller, self._base_url, self._resource_group)
        async for pair in select_statuses(
            api,
            kind,
            selection,
            page_size=page_size or self._engine_settings.page_size,
            now=self._wall_clock,
        ):
            yield pair

    async def wait_gone(self, kind: Kind, ids: Iterable[str], *, within: float) -> set[str]:
        """Wait until none of ``ids`` is listed any more (deleted items linger a while).

        Returns:
            The IDs still listed when ``within`` seconds had passed (empty: all gone).
        """
        _check_kind(kind)
        left = set(ids)
        caller = self._new_caller(listener=None, items=0)
        api = Api(caller, self._base_url, self._resource_group)
        give_up = self._clock() + within
        while left:
            listed: set[str] = set()
            async for page in api.list_statuses(kind, page_size=self._engine_settings.page_size):
                listed.update(item_id for item_id, _ in page if item_id in left)
            left = listed
            if not left or self._clock() >= give_up:
                break
            await self._sleep(min(self._engine_settings.poll_interval, give_up - self._clock()))
        return left

    async def resume(
        self,
        journal: JournalPath,
        *,
        deadline: float | None = None,
        interrupt: anyio.Event | None = None,
        listener: Listener | None = None,
    ) -> Report:
        """Finish the run recorded in ``journal`` (after a kill, a crash or an interrupt).

        Items with a final outcome in the journal are reported as recorded and never sent
        again. Every other item (in doubt, failed, or never settled) has its status read
        afresh and takes the path that status calls for, minding the changes the earlier
        run may have made. The journal is updated as the items settle, so a resume can be
        resumed too.

        Returns:
            The report of the whole run: every ID of the original run exactly once.

        Raises:
            InputError: No journal at that path, or one written for another resource group
                or service.
        """
        started = self._clock()
        _check_deadline(deadline)
        book = Journal.open(journal)
        try:
            run = book.run()
            for name, theirs, ours in (
                ("resource group", run.resource_group, self._resource_group),
                ("service", run.base_url, self._base_url),
            ):
                if theirs != ours:
                    raise InputError(
                        f"journal {book.path} belongs to {name} {theirs!r}, this client "
                        f"uses {ours!r}"
                    )
            recorded = book.items()
            still_open = {
                entry.result.id: ItemState.resumed(
                    attempts=entry.result.attempts,
                    unconfirmed=entry.unconfirmed,
                    delete_unsure=entry.delete_unsure,
                    stopped_by_us=entry.stopped_by_us,
                )
                for entry in recorded
                if entry.open
            }
            engine, caller = await self._prepare(
                run.kind, still_open, run.target, listener=listener
            )
            engine.journal = book
            engine.plan()
            engine.write_journal()
            interrupted = await self._dispatch(engine, deadline=deadline, interrupt=interrupt)
        finally:
            book.close()
        fresh = iter(engine.take_results())  # the open items, in the journal's order
        results = tuple(next(fresh) if entry.open else entry.result for entry in recorded)
        return self._report(
            engine,
            caller,
            results,
            duplicates=run.duplicates,
            started=started,
            interrupted=interrupted,
            carried_over=sum(not entry.open for entry in recorded),
        )

    async def _run(
        self,
        kind: Kind,
        ids: Ids,
        target: Target,
        *,
        deadline: float | None,
        confirm: Confirm | None,
        interrupt: anyio.Event | None,
        listener: Listener | None,
        journal: JournalPath | None,
    ) -> Report:
        started = self._clock()
        _check_kind(kind)
        _check_deadline(deadline)
        if journal is not None:
            Journal.check_new(journal)
        distinct, duplicates, listed = await self._intake(kind, ids)
        engine, caller = await self._prepare(
            kind, distinct, target, listener=listener, statuses_known=listed
        )
        counts = engine.plan()
        if confirm is not None:
            plan = _plan_of(engine, counts, duplicates=duplicates, reads=caller.counters.requests)
            verdict = confirm(plan)
            if inspect.isawaitable(verdict):
                verdict = await verdict
            if not verdict:
                raise RunDeclinedError("the run was declined; nothing was changed", plan=plan)
        if journal is not None:
            engine.journal = Journal.create(
                journal,
                RunRecord(
                    kind=kind,
                    target=target,
                    resource_group=self._resource_group,
                    base_url=self._base_url,
                    duplicates=duplicates,
                    plan={path.value: n for path, n in counts.items()},
                ),
                engine.items,
                (engine.record(i) for i, state in engine.items.items() if state.outcome),
            )
        try:
            interrupted = await self._dispatch(engine, deadline=deadline, interrupt=interrupt)
        finally:
            if engine.journal is not None:
                engine.journal.close()
        results = tuple(engine.take_results())
        return self._report(
            engine,
            caller,
            results,
            duplicates=duplicates,
            started=started,
            interrupted=interrupted,
        )

    def _report(
        self,
        engine: Engine,
        caller: Caller,
        results: tuple[ItemResult, ...],
        *,
        duplicates: int,
        started: float,
        interrupted: bool,
        carried_over: int = 0,
    ) -> Report:
        if self._bulk is not None:
            self._bulk[engine.kind] = engine.bulk  # a 404 mid-run switched to single calls
        counters = caller.counters
        return Report.build(
            kind=engine.kind,
            target=engine.target,
            items=results,
            requests=counters.requests,
            mutating_requests=counters.mutating,
            retries=counters.retries,
            throttled=counters.throttled,
            duplicates=duplicates,
            seconds=self._clock() - started,
            interrupted=interrupted,
            carried_over=carried_over,
        )

    async def _dispatch(
        self, engine: Engine, *, deadline: float | None, interrupt: anyio.Event | None
    ) -> bool:
        """Run the engine under the deadline and the interrupt; True when interrupted."""
        try:
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as side:
                    if deadline is not None:
                        side.start_soon(_expire, self._sleep, deadline, scope)
                    if interrupt is not None:
                        side.start_soon(self._interrupt_when, interrupt, engine, scope)
                    await engine.dispatch()
                    side.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # The run as a whole broke after changes began (say, the token endpoint stopped
            # answering): every item is still accounted for, with what we know of it.
            # Anything but our own errors (a bug, a cancellation) propagates.
            ours, rest = group.split(BulkError)
            if rest is not None or ours is None:
                raise
            engine.finish(f"the run stopped: {_first(ours)}")
            return False
        if interrupt is not None and interrupt.is_set():
            engine.finish("interrupted before this item settled")
            return True
        if scope.cancelled_caught:
            engine.finish(f"the run's deadline of {deadline:g} s passed first")
        return False

    async def _interrupt_when(
        self, interrupt: anyio.Event, engine: Engine, scope: anyio.CancelScope
    ) -> None:
        """On interruption: send nothing new, give requests in flight a grace period, stop."""
        await interrupt.wait()
        engine.stop_sending()
        await self._sleep(self._grace)
        scope.cancel()

    def _new_caller(self, *, listener: Listener | None, items: int) -> Caller:
        return Caller(
            transport=self._transport,
            auth=self._auth,
            pacer=Pacer(
                self._clock, self._sleep, self._limits.rate, adaptive=self._limits.adaptive
            ),
            limiter=anyio.CapacityLimiter(self._limits.concurrency),
            retry=self._retry,
            budget=RetryBudget(_budget(self._retry, items)),
            clock=self._clock,
            sleep=self._sleep,
            wall_clock=self._wall_clock,
            listener=listener,
        )

    async def _intake(self, kind: Kind, ids: Ids) -> tuple[dict[str, ItemState], int, bool]:
        """A fresh state for each distinct, checked ID in input order, and the repeats dropped.

        The flag says every state already holds its status (this client's own selection).
        """
        if isinstance(ids, _Selected) and ids.used:
            # Its pages were read by an earlier run: this one would silently have no items.
            raise InputError("this selection was already used by a run; call select() again")
        if isinstance(ids, _Selected) and ids.lists_for(self, kind):
            ids.used = True
            states: dict[str, ItemState] = {}
            total = 0
            async for item_id, status in ids.pairs:
                total += 1
                if check_id(item_id, total) not in states:
                    state = states[item_id] = ItemState()
                    state.status = status
            return states, total - len(states), True
        states, duplicates = await _intake(ids)
        return states, duplicates, False

    async def _prepare(
        self,
        kind: Kind,
        states: dict[str, ItemState],
        target: Target,
        *,
        listener: Listener | None,
        statuses_known: bool = False,
    ) -> tuple[Engine, Caller]:
        """An engine for these items (a resume's come with what the journal knew), statuses read.

        ``statuses_known``: the items came from this client's own selection, with the statuses
        it listed them with moments ago; they are not listed again.
        """
        if self._closed:
            raise InputError("this BulkClient is closed")
        events = _fan_out(self._listener, listener)
        caller = self._new_caller(listener=events, items=len(states))
        # The token first: bad credentials fail here, before anything else is sent.
        await self._auth.token(self._transport)
        api = Api(caller, self._base_url, self._resource_group)
        if self._bulk is None:
            self._bulk = await api.bulk_capabilities()
        engine = Engine(
            api=api,
            kind=kind,
            target=target,
            bulk=self._bulk[kind],
            items=states,
            settings=self._engine_settings,
            clock=self._clock,
            sleep=self._sleep,
            listener=events,
        )
        await engine.resolve(statuses_known=statuses_known)
        return engine, caller


async def _intake(ids: Ids) -> tuple[dict[str, ItemState], int]:
    """A fresh state for each distinct, checked ID in input order, and the repeats dropped."""
    if isinstance(ids, AsyncIterable):
        distinct, duplicates = await intake_async(ids)
    else:
        distinct, duplicates = intake(ids)
    # The intake's dict gets its values in place: a second dict of a million keys would
    # only add to the peak.
    states = cast("dict[str, ItemState]", distinct)
    with collector_paused():
        # Every key gets a fresh state in one C-level pass (only values change: no resize).
        states.update(zip(distinct, iter(ItemState, None), strict=False))  # endless states
    return states, duplicates


class _Selected(AsyncIterator[str]):
    """What :meth:`BulkClient.select` returns: the IDs, with the statuses they were listed with.

    Iterated, it gives the IDs, as any stream of IDs. Given whole to the client that made it,
    for the same kind, the run takes the statuses too, and does not list the group again.
    """

    def __init__(
        self, client: BulkClient, kind: Kind, pairs: AsyncIterator[tuple[str, Status]]
    ) -> None:
        self._client, self._kind, self.pairs = client, kind, pairs
        self._started = False
        #: A run took it whole.
        self.used = False

    def lists_for(self, client: BulkClient, kind: Kind) -> bool:
        """Whether its statuses are this client's and kind's, and none was taken yet."""
        return client is self._client and kind == self._kind and not self._started

    async def __anext__(self) -> str:
        self._started = True
        item_id, _ = await anext(self.pairs)
        return item_id


def _first(group: BaseExceptionGroup[BulkError]) -> BaseException:
    """The first error of a (possibly nested) exception group."""
    first = group.exceptions[0]
    return _first(first) if isinstance(first, BaseExceptionGroup) else first


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None:
        check_number("deadline", deadline, above=0)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InputError(f"unknown kind {kind!r}: use 'executions' or 'deployments'")


def _plan_of(engine: Engine, counts: Mapping[Path, int], *, duplicates: int, reads: int) -> Plan:
    return Plan(
        kind=engine.kind,
        target=engine.target,
        items=tuple(
            PlannedItem(
                item_id, s.status.value if s.status else None, s.path or Path.SKIP, s.message
            )
            for item_id, s in engine.items.items()
        ),
        paths={path.value: n for path, n in counts.items()},
        requests=minimum_requests(counts, batch=engine.batch_size),
        reads=reads,
        duplicates=duplicates,
    )


def _engine_settings(
    stop_wait: float, poll_interval: float, page_size: int, hold: float
) -> EngineSettings:
    check_number("page_size", page_size, at_least=1, at_most=100_000, whole=True)
    for name, value in (("stop_wait", stop_wait), ("poll_interval", poll_interval), ("hold", hold)):
        check_number(name, value, at_least=0)
    return EngineSettings(
        page_size=page_size, stop_wait=stop_wait, poll_interval=poll_interval, hold=hold
    )


def _auth_from(settings: Settings, *, clock: Clock, sleep: Sleep, retry: RetryPolicy) -> Auth:
    if settings.token is not None:
        return StaticToken(settings.token)
    if settings.client_secret is not None and settings.auth_url is not None:
        return ClientCredentials(
            settings.auth_url,
            cast("str", settings.client_id),
            settings.client_secret,
            clock=clock,
            sleep=sleep,
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
        sleep=sleep,
        retry=retry,
    )


async def _expire(sleep: Sleep, seconds: float, scope: anyio.CancelScope) -> None:
    """Cancel ``scope`` after ``seconds`` of the client's clock (virtual in tests)."""
    await sleep(seconds)
    scope.cancel()


def _budget(retry: RetryPolicy, items: int) -> int:
    """Retries for the whole run: as set, or 20 plus two per request the items need."""
    if retry.budget is not None:
        return retry.budget
    return 20 + 2 * (items // 50 + 1)


def _target(value: str | Target) -> Target:
    try:
        return Target(value)
    except ValueError:
        raise InputError(f"unknown target {value!r}: use 'DELETED' or 'STOPPED'") from None


def _fan_out(*listeners: Listener | None) -> Listener | None:
    active = [listener for listener in listeners if listener is not None]
    if not active:
        return None
    if len(active) == 1:
        return active[0]

    def both(event: Any) -> None:  # noqa: ANN401 - any event
        for listener in active:
            listener(event)

    return both
