"""The ``aicore-bulk`` command line: a thin layer over :class:`~aicore_bulk.BulkClient`.

Its flags, output and exit codes are a contract (see ``docs/cli.md``):

| code | meaning |
| --- | --- |
| 0 | every item reached its target or needed nothing |
| 1 | some items are ``failed``, ``skipped`` or ``unknown`` |
| 2 | usage, configuration or authentication error: nothing was sent |
| 3 | refused by ``--max-items`` or a declined confirmation: nothing was changed |
| 130 | interrupted |
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from aicore_bulk._cli._args import build_parser
from aicore_bulk._cli._exit import EXIT_INTERRUPTED, EXIT_USAGE, fail
from aicore_bulk._cli._streams import say, silence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # The last guard, for output written before a run (``--help | head -1``): a run's
        # own output already stops quietly at a closed pipe (see ``_streams``).
        silence(sys.stdout)
        silence(sys.stderr)
        return 0


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)  # --version and --help end here
    # Only now: asyncio (with ssl and concurrent.futures) is half the import time of
    # ``--version``, and a run needs it anyway.
    import asyncio  # noqa: PLC0415

    try:
        if args.command == "simulate":
            from aicore_bulk._cli._simulate import simulate  # noqa: PLC0415 - only when asked

            return simulate(args)
        if args.command == "demo":
            from aicore_bulk._cli._demo import demo  # noqa: PLC0415

            return asyncio.run(demo(args))
        from aicore_bulk._cli._run import run  # noqa: PLC0415

        return asyncio.run(run(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("aicore-bulk: interrupted", sys.stderr)
        return EXIT_INTERRUPTED
    except ValueError as error:
        return fail(str(error), EXIT_USAGE)
