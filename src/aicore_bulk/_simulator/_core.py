"""The simulator: configuration, state, and the operations its HTTP handlers call."""

from __future__ import annotations

import base64
import json
import random
import secrets
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, Literal

import attrs
from attrs import validators as v

from aicore_bulk._clock import SYSTEM_CLOCK, Clock
from aicore_bulk._simulator import _rules, _seed
from aicore_bulk._simulator._faults import FaultPlan, Faults
from aicore_bulk._simulator._groups import GROUP_ID_PATTERN, ContinueTokens, ResourceGroup
from aicore_bulk._simulator._rules import Kind
from aicore_bulk._simulator._seed import Lifecycle, SeedSpec
from aicore_bulk._simulator._stats import Recorder, Statistics
from aicore_bulk._simulator._store import Item, Store

#: The scope a token needs for ``/v2/admin/...``; the simulator's own name for it (on the
#: real service it is one of the XSUAA scopes of the AI Core instance's admin role).
ADMIN_SCOPE: Final = "aicore-bulk-simulator.admin"
_BASE_SCOPE: Final = "uaa.resource"


def _freeze_groups(groups: Mapping[str, Mapping[str, str]]) -> Mapping[str, Mapping[str, str]]:
    return MappingProxyType(
        {name: MappingProxyType(dict(labels)) for name, labels in groups.items()}
    )


def _groups_repr(groups: Mapping[str, Mapping[str, str]]) -> str:
    return repr({name: dict(labels) for name, labels in groups.items()})


def _groups_valid(_: object, __: object, groups: Mapping[str, Mapping[str, str]]) -> None:
    for name, labels in groups.items():
        ResourceGroup(name, labels)  # raises ValueError with the reason


@attrs.frozen(kw_only=True)
class SimulatorConfig:
    """How the simulated AI API behaves. Every knob has a realistic default."""

    #: The client credentials the token endpoint accepts.
    client_id: str = "aicore-bulk-simulator"
    client_secret: str = attrs.field(default="simulator-secret", repr=False)
    #: Whether the client's tokens carry the admin scope that ``/v2/admin/resourceGroups``
    #: needs; without it that endpoint (and only that one) answers 403.
    admin_scope: bool = True
    #: False turns off the token endpoint's checks and every bearer check.
    auth: bool = True
    token_lifetime: float = attrs.field(default=3600.0, validator=v.gt(0.0))
    #: Seconds an item stays STOPPING after a stop.
    stop_delay: float = attrs.field(default=5.0, validator=v.ge(0.0))
    #: Seconds a deleted item stays listed (``targetStatus: DELETED``) before it is gone.
    delete_linger: float = attrs.field(default=60.0, validator=v.ge(0.0))
    #: ``aiApi.capabilities.bulkUpdates`` per kind; off, the bulk PATCH answers 404.
    bulk_executions: bool = True
    bulk_deployments: bool = True
    #: Answer bulk entries in a random order (the contract does not promise any order).
    shuffle_answers: bool = False
    #: The HTTP status of a single-item stop or delete that the status table refuses
    #: (the spec lists 412; the contract says 400 is possible too).
    conflict_status: Literal[400, 412] = attrs.field(default=412, validator=v.in_((400, 412)))
    #: Whether a list's ``count`` is the total of matches or the size of the page
    #: (unverified on the real service).
    list_count: Literal["total", "page"] = attrs.field(
        default="total", validator=v.in_(("total", "page"))
    )
    #: Request bodies above this many bytes are refused with a 400.
    max_body_bytes: int = attrs.field(default=1 << 20, validator=v.gt(0))
    faults: Faults = attrs.field(factory=Faults)
    #: The tenant's resource groups and their labels (``ext.ai.sap.com/...`` keys), in the
    #: order ``GET /v2/admin/resourceGroups`` lists them. A group that items are seeded or
    #: put into joins the list without labels; any ``AI-Resource-Group`` header still gets
    #: an isolated (possibly empty) set of items, as before.
    resource_groups: Mapping[str, Mapping[str, str]] = attrs.field(
        factory=lambda: {"default": {}},
        converter=_freeze_groups,
        validator=_groups_valid,
        hash=False,  # a mapping: the config stays hashable, as it was without it
        repr=_groups_repr,
    )
    #: Seconds a ``continueToken`` of a paged resource group listing stays valid.
    continue_token_lifetime: float = attrs.field(default=600.0, validator=v.gt(0.0))
    #: How seeded running items change by themselves over time; None: they never do.
    lifecycle: Lifecycle | None = None
    #: Seeds every random choice: item IDs, statuses, faults, shuffles.
    seed: int = 0

    def bulk_enabled(self, kind: Kind) -> bool:
        """Whether the bulk PATCH of ``kind`` is switched on."""
        return self.bulk_executions if kind == "executions" else self.bulk_deployments


@attrs.frozen
class ItemSnapshot:
    """The ground truth about one item, read without counting as a client's look."""

    status: str
    target_status: str
    deleted: bool


@attrs.frozen
class Credentials:
    """What a client needs to talk to a running simulator."""

    client_id: str
    client_secret: str = attrs.field(repr=False)


class Simulator:
    """An in-memory AI API: items, rules, time, faults and bookkeeping.

    Args:
        config: How the simulated service behaves.
        clock: Where the simulated time comes from: its ``time()`` drives the items'
            timeline and tokens, its ``sleep()`` the latency faults. Inject
            ``aicore_bulk.testing.VirtualClock`` to drive time in tests.

    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.config = config or SimulatorConfig()
        self.clock = clock
        self.rng = random.Random(self.config.seed)
        self.store = Store(
            clock=clock.time,
            stop_delay=self.config.stop_delay,
            delete_linger=self.config.delete_linger,
        )
        self.recorder = Recorder()
        self.faults = FaultPlan(self.config.faults, clock.time, self.rng, clock.time())
        #: Bearer tokens: until when each is valid, and its scopes.
        self._tokens: dict[str, tuple[float, frozenset[str]]] = {}
        self._request_ids = 0
        now = clock.time()
        self._groups: dict[str, tuple[ResourceGroup, float]] = {
            name: (ResourceGroup(name, labels), now)
            for name, labels in self.config.resource_groups.items()
        }
        self.continue_tokens = ContinueTokens(
            secrets.token_bytes(16), self.config.continue_token_lifetime
        )

    def __repr__(self) -> str:
        return f"<Simulator groups={list(self._groups)} config={self.config!r}>"

    @property
    def credentials(self) -> Credentials:
        """The client credentials the token endpoint accepts."""
        return Credentials(self.config.client_id, self.config.client_secret)

    def seed(self, kind: Kind, count: int, **spec: Any) -> list[str]:  # noqa: ANN401
        """Add ``count`` items of ``kind``; see :class:`SeedSpec` for the other keywords.

        Returns:
            The new IDs, in the (seed-determined) order they were added.

        """
        seed_spec = SeedSpec(kind=kind, count=count, **spec)
        self._join(seed_spec.resource_group)
        ids = []
        for item in _seed.generate(
            seed_spec, rng=self.rng, now=self.clock.time(), lifecycle=self.config.lifecycle
        ):
            self.store.add(seed_spec.resource_group, item)
            ids.append(item.id)
        return ids

    def put(
        self,
        kind: Kind,
        item_id: str,
        status: str,
        *,
        resource_group: str = "default",
        scenario_id: str = "training",
        executable_id: str = "trainer-v1",
        configuration_id: str = "cfg-small",
        created_at: float | None = None,
        completion_time: float | None = None,
        change_at: float | None = None,
        change_to: str | None = None,
    ) -> None:
        """Add one item with exactly these properties (for hand-written scenarios).

        ``change_at`` and ``change_to`` make a PENDING or RUNNING item turn COMPLETED, DEAD
        or STOPPING (stopped by somebody else) by itself at that clock time.
        """
        if not _rules.ID_PATTERN.match(item_id):
            raise ValueError(f"{item_id!r} does not match the AI API's ID pattern")
        if status not in _rules.STATUSES:
            raise ValueError(f"unknown status {status!r}")
        now = self.clock.time()
        created = now if created_at is None else created_at
        item = Item(
            id=item_id,
            kind=kind,
            status=status,
            target_status="STOPPED"
            if status in {"STOPPING", "STOPPED"}
            else _rules.INITIAL_TARGET[kind],
            created_at=created,
            scenario_id=scenario_id,
            executable_id=executable_id,
            configuration_id=configuration_id,
            configuration_name=f"{configuration_id} for {executable_id}",
            start_time=None if status == "PENDING" else created,
            completion_time=completion_time,
            modified_at=created,
            stopping_until=now + self.config.stop_delay if status == "STOPPING" else None,
            event_at=change_at,
            event_status=change_to,
        )
        self._join(resource_group)
        self.store.add(resource_group, item)

    def add_resource_group(
        self, resource_group_id: str, labels: Mapping[str, str] | None = None
    ) -> ResourceGroup:
        """Add a resource group with these labels, or replace the labels of an existing one.

        Raises:
            ValueError: The ID or a label does not follow the spec.

        """
        group = ResourceGroup(resource_group_id, labels or {})
        _, created = self._groups.get(resource_group_id, (group, self.clock.time()))
        self._groups[resource_group_id] = (group, created)
        return group

    def resource_groups(self) -> tuple[ResourceGroup, ...]:
        """The tenant's resource groups, in the order the admin endpoint lists them."""
        return tuple(group for group, _ in self._groups.values())

    def resource_group_created_at(self, resource_group_id: str) -> float:
        """When a resource group was created, on the simulator's clock."""
        return self._groups[resource_group_id][1]

    def _join(self, resource_group_id: str) -> None:
        """A group that gets items exists: list it (without labels) unless it is declared.

        An ID the spec would refuse still holds items (tests of bad headers use such), but
        no real tenant could list it, so neither does the simulator.
        """
        if resource_group_id not in self._groups and GROUP_ID_PATTERN.match(resource_group_id):
            self.add_resource_group(resource_group_id)

    def state(
        self, kind: Kind, item_id: str, resource_group: str = "default"
    ) -> ItemSnapshot | None:
        """The ground truth about one item now, or None once it is gone."""
        item = self.store.get(kind, resource_group, item_id)
        if item is None:
            return None
        return ItemSnapshot(item.status, item.target_status, deleted=item.deleted_at is not None)

    def states(self, kind: Kind, resource_group: str = "default") -> Mapping[str, ItemSnapshot]:
        """The ground truth about every item of a group that still exists."""
        return {
            item.id: ItemSnapshot(
                item.status, item.target_status, deleted=item.deleted_at is not None
            )
            for item in self.store.scan(kind, resource_group)
        }

    def statistics(self) -> Statistics:
        """What the simulator has seen so far."""
        return self.recorder.snapshot()

    def changes_received(self, kind: Kind, item_id: str) -> dict[str, int]:
        """How many change requests carried this item, by operation (``stop``, ``delete``)."""
        received = self.recorder.received
        return {op: received[(kind, item_id, op)] for op in ("stop", "delete")}

    def reset_statistics(self) -> None:
        """Start counting afresh (items and faults stay as they are)."""
        self.recorder = Recorder()

    def set_faults(self, faults: Faults) -> None:
        """Switch to other fault knobs from now on."""
        self.config = attrs.evolve(self.config, faults=faults)
        self.faults = FaultPlan(faults, self.clock.time, self.rng, self.clock.time())

    # What the HTTP layer calls.

    def client_scopes(self) -> frozenset[str]:
        """The scopes the configured client's tokens carry."""
        if self.config.admin_scope:
            return frozenset({_BASE_SCOPE, ADMIN_SCOPE})
        return frozenset({_BASE_SCOPE})

    def issue_token(self, scopes: frozenset[str] | None = None) -> tuple[str, int]:
        """A new bearer token and its lifetime in whole seconds.

        The token is shaped like the JWT XSUAA issues, with the ``scope`` claim listing
        ``scopes`` (default: :meth:`client_scopes`); it is checked by lookup, not signature.
        """
        granted = self.client_scopes() if scopes is None else scopes
        now = self.clock.time()
        until = now + self.config.token_lifetime
        claims = {
            "jti": secrets.token_hex(16),
            "client_id": self.config.client_id,
            "cid": self.config.client_id,
            "zid": "simulator",
            "scope": sorted(granted),
            "iat": int(now),
            "exp": int(until),
        }
        token = ".".join(
            (
                _base64url({"alg": "RS256", "typ": "JWT"}),
                _base64url(claims),
                secrets.token_urlsafe(32),
            )
        )
        self._tokens[token] = (until, granted)
        expired = [t for t, (valid, _) in self._tokens.items() if valid <= now]
        for stale in expired:
            del self._tokens[stale]
        return token, max(1, int(self.config.token_lifetime))

    def token_valid(self, token: str) -> bool:
        """Whether a bearer token was issued here and has not expired."""
        grant = self._tokens.get(token)
        return grant is not None and self.clock.time() < grant[0]

    def token_scopes(self, token: str) -> frozenset[str]:
        """The scopes of a valid token; none for any other."""
        return self._tokens[token][1] if self.token_valid(token) else frozenset()

    def next_request_id(self) -> str:
        """A unique ID for an error body's ``requestId``."""
        self._request_ids += 1
        return f"sim-{self._request_ids:012d}"


def _base64url(claims: Mapping[str, Any]) -> str:
    raw = json.dumps(claims, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
