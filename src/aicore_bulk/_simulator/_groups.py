"""The tenant's resource groups: labels, label selectors and continue tokens.

``GET /v2/admin/resourceGroups`` (spec 2.42.0, ``kubesubmit.v4.resourcegroups.get_all``)
filters by ``labelSelector`` (``key=value`` and ``key!=value``, all of them must hold) and
pages with ``Prefer: maxpagesize=N``: a page that leaves groups out carries a ``Link``
header whose URL holds a ``continueToken``.

Continue tokens are self-contained and signed with a per-simulator secret, so that the
simulator keeps no state per listing and a client may re-send a continued request (after a
dropped connection, say) as often as it likes while the token lives. The spec's rules for
them: a token the server does not recognize may be rejected (here: 400), one that has
expired gets ``410`` (here after ``continue_token_lifetime`` seconds; "generally five to
fifteen minutes" on the real service).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

import attrs

#: ``BckndresourceGroupId``.
GROUP_ID_PATTERN: Final = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9.-]{1,251}[a-zA-Z0-9]$", re.ASCII)
#: ``BckndResourceGroupLabel.key`` (maxLength 63). The spec leaves the dots of
#: ``ext.ai.sap.com`` unescaped; they are meant literally.
LABEL_KEY_PATTERN: Final = re.compile(
    r"^ext\.ai\.sap\.com/(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]){1,48}$", re.ASCII
)
LABEL_KEY_MAX: Final = 63
LABEL_VALUE_MAX: Final = 5000
#: One ``labelSelector`` item, as the spec's ``items.pattern`` has it.
SELECTOR_PATTERN: Final = re.compile(r"^[^ =,!]+!?=[^ =,!]+$")


def _freeze_labels(labels: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(labels))


def _labels_valid(_: object, __: object, labels: Mapping[str, str]) -> None:
    for key, value in labels.items():
        if len(key) > LABEL_KEY_MAX or not LABEL_KEY_PATTERN.match(key):
            raise ValueError(
                f"label key {key!r} must look like ext.ai.sap.com/NAME "
                f"(at most {LABEL_KEY_MAX} characters; NAME of letters, digits, '-', '_', '.')"
            )
        if len(value) > LABEL_VALUE_MAX:
            raise ValueError(f"label {key}: the value must be text of at most 5000 characters")


def _group_id_valid(_: object, __: object, value: str) -> None:
    if not GROUP_ID_PATTERN.match(value):
        raise ValueError(
            f"resource group ID {value!r} must be 3 to 253 letters, digits, '.' or '-', "
            "beginning and ending with a letter or digit"
        )


@attrs.frozen
class ResourceGroup:
    """One resource group of the simulated tenant, with its labels.

    Both are checked against the spec: IDs as ``BckndresourceGroupId``, label keys as
    ``BckndResourceGroupLabel`` (``ext.ai.sap.com/...``).
    """

    resource_group_id: str = attrs.field(validator=_group_id_valid)
    labels: Mapping[str, str] = attrs.field(
        factory=dict,
        converter=_freeze_labels,
        validator=_labels_valid,
        hash=False,  # a mapping; equal groups still hash alike by their IDs
        repr=lambda labels: repr(dict(labels)),
    )


@attrs.frozen
class Requirement:
    """One ``key=value`` (``equal``) or ``key!=value`` of a label selector."""

    key: str
    value: str
    equal: bool

    def matches(self, labels: Mapping[str, str]) -> bool:
        """``key=value`` needs that label; ``key!=value`` holds when it is absent or other."""
        return (labels.get(self.key) == self.value) == self.equal

    def __str__(self) -> str:
        return f"{self.key}{'=' if self.equal else '!='}{self.value}"


class SelectorError(ValueError):
    """A ``labelSelector`` the spec's pattern refuses."""


def parse_selector(values: Iterable[str]) -> tuple[Requirement, ...]:
    """The requirements of every ``labelSelector`` value (comma-separated, possibly repeated).

    The spec gives the parameter ``style: form, explode: false``: one value holding the
    items separated by commas. A client that repeats the parameter instead means the same,
    so both forms are taken.
    """
    requirements: list[Requirement] = []
    for value in values:
        for item in value.split(","):
            if not SELECTOR_PATTERN.match(item):
                raise SelectorError(
                    f"labelSelector item {item!r} must be key=value or key!=value "
                    "(no spaces, commas or other '=' and '!')"
                )
            key, _, rest = item.partition("=")
            if key.endswith("!"):
                requirements.append(Requirement(key[:-1], rest, equal=False))
            else:
                requirements.append(Requirement(key, rest, equal=True))
    return tuple(requirements)


def selects(requirements: Iterable[Requirement], labels: Mapping[str, str]) -> bool:
    """Whether a group with ``labels`` meets every requirement."""
    return all(requirement.matches(labels) for requirement in requirements)


@attrs.frozen
class Cursor:
    """Where a paged listing goes on: everything a continue token stands for."""

    selector: tuple[str, ...]
    #: Index of the next group among those the selector matches.
    position: int
    #: Index after the last group of the listing (``$skip + $top``), None for all.
    end: int | None
    #: Whether ``count`` is the total of matches (``$count=true``) or the page's size.
    count_all: bool
    issued_at: float


class TokenError(ValueError):
    """A continue token that cannot be used."""

    def __init__(self, message: str, *, expired: bool) -> None:
        super().__init__(message)
        self.expired = expired


@attrs.define(eq=False)
class ContinueTokens:
    """Issues and checks continue tokens; see the module docstring."""

    secret: bytes = attrs.field(repr=False)
    lifetime: float

    def issue(self, cursor: Cursor) -> str:
        """A token for ``cursor``: its JSON in base64url, and a signature."""
        payload = json.dumps(attrs.asdict(cursor), separators=(",", ":")).encode()
        body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return f"{body}.{self._sign(body)}"

    def read(self, token: str, *, now: float) -> Cursor:
        """The cursor of a token this simulator issued that has not expired.

        Raises:
            TokenError: The token is not one of ours, or it has expired.

        """
        body, _, signature = token.partition(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            raise TokenError("continueToken is not recognized", expired=False)
        try:
            fields = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (binascii.Error, ValueError):  # pragma: no cover - signed by us, so well formed
            raise TokenError("continueToken is not recognized", expired=False) from None
        cursor = Cursor(
            selector=tuple(fields["selector"]),
            position=fields["position"],
            end=fields["end"],
            count_all=fields["count_all"],
            issued_at=fields["issued_at"],
        )
        if now >= cursor.issued_at + self.lifetime:
            raise TokenError(
                "continueToken has expired: restart the listing without it", expired=True
            )
        return cursor

    def _sign(self, body: str) -> str:
        digest = hmac.new(self.secret, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode()
