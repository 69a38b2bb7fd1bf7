"""The library's messages in the command line's words.

The library names what a Python caller passes (``resource_group=``, ``concurrency``); the
command line names its flags (``--resource-group``, ``--concurrency``). Rather than teach the
library about flags, the command line translates each message it prints: a Python name that
opens the message (``resource_group contains whitespace``) or stands as a keyword argument
(``pass resource_group=``, ``named by profile= 'staging'``) becomes the flag that sets it.
Other words are left alone, so a service's own message is never rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

#: Python names in library messages, and the flag that sets each. Left out: names without a
#: flag (``page_size``, ``config_path``), names whose values differ (``attempts`` is
#: ``--retries`` + 1), and plain words a service's message may begin with (``rate``,
#: ``deadline``: their flags' own checks refuse every value the library would).
FLAGS: Final[Mapping[str, str]] = {
    "allow_insecure_http": "--allow-insecure-http",
    "auth_url": "--auth-url",
    "base_url": "--base-url",
    "client_id": "--client-id",
    "concurrency": "--concurrency",
    "configuration_id": "--configuration-id",
    "executable_ids": "--executable-id",
    "older_than": "--older-than",
    "poll_interval": "--poll-interval",
    "profile": "--profile",
    "request_timeout": "--timeout",
    "resource_group": "--resource-group",
    "scenario_id": "--scenario-id",
    "statuses": "--status",
    "stop_wait": "--stop-wait",
}

#: A name opening the message (``concurrency must be ...``), or a keyword argument anywhere
#: (``resource_group=``, ``allow_insecure_http=True``), not part of a longer word or path.
_NAME: Final = re.compile(
    r"^(?P<first>[a-z_]+)(?=[ :])|(?<![\w.$/-])(?P<keyword>[a-z_]+)=(?:True\b)?"
)
#: Where a configuration error lists the places it looked: "arguments" are the flags here.
_LOOKED_IN: Final = "Looked in: arguments,"


def cli_words(message: str) -> str:
    """``message`` with the Python names of :data:`FLAGS` replaced by their flags."""

    def flag(match: re.Match[str]) -> str:
        return FLAGS.get(match["first"] or match["keyword"], match[0])

    return _NAME.sub(flag, message).replace(_LOOKED_IN, "Looked in: options,")
