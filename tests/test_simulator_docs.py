"""Every code block of ``docs/simulator.md`` runs as written, and does what the page says.

Blocks are taken from the page itself:

* a ``python`` block whose first line names a file (``# conftest.py``, ``# test_x.py``), and a
  ``toml`` block naming ``pyproject.toml``, are files of a user's project, run by pytest in a
  fresh directory, as a user would;
* any other ``python`` block is a script, run in an event loop (top-level ``await`` allowed);
* an ``sh`` block is a command, run as a process; the ``text`` block after it is its output;
* a block after ``<!-- not run: reason -->`` is not run (there should be very few).
"""

from __future__ import annotations

import ast
import asyncio
import re
import shlex
import signal
import sys
from pathlib import Path

import attrs
import pytest

from tests._support import bare_environment, run_pytest

PAGE = Path(__file__).parents[1] / "docs" / "simulator.md"
FENCE = re.compile(
    r"(?:<!-- not run: (?P<why>[^>]+?) -->\n)?^```(?P<lang>\w*)\n(?P<code>.*?)^```$",
    re.DOTALL | re.MULTILINE,
)
FILE_NAME = re.compile(r"# ([\w./-]+\.(?:py|toml))\n")
#: Blocks the page may leave unrun; more would be a page of untested code.
MOST_NOT_RUN = 2


@attrs.frozen
class Block:
    """One fenced block of the page."""

    lang: str
    code: str
    line: int
    not_run: str | None

    @property
    def file_name(self) -> str | None:
        """The project file the block is, if its first line names one."""
        match = FILE_NAME.match(self.code)
        return match.group(1) if match else None

    @property
    def label(self) -> str:
        """Where the block is in the page, for test IDs and messages."""
        return f"{self.lang}@{self.line}"


def page_blocks() -> list[Block]:
    text = PAGE.read_text(encoding="utf-8")
    return [
        Block(
            match.group("lang"),
            match.group("code"),
            text.count("\n", 0, match.start("code")),
            match.group("why"),
        )
        for match in FENCE.finditer(text)
    ]


BLOCKS = page_blocks()
RUN = [block for block in BLOCKS if block.not_run is None]
PROJECT = [block for block in RUN if block.file_name is not None]
SCRIPTS = [block for block in RUN if block.lang == "python" and block.file_name is None]
COMMANDS = [block for block in RUN if block.lang == "sh"]


def test_every_block_of_the_page_is_run():
    """Each block is a script, a project file, a command or its output, or says why not."""
    assert len(BLOCKS) >= 8, "the page's blocks were not found"
    for block in RUN:
        known = block in PROJECT or block in SCRIPTS or block in COMMANDS
        output = block.lang == "text" and BLOCKS[BLOCKS.index(block) - 1] in COMMANDS
        assert known or output, f"{block.label} of {PAGE.name} is not run: {block.code[:60]!r}"
    assert len(BLOCKS) - len(RUN) <= MOST_NOT_RUN


@pytest.mark.parametrize("block", SCRIPTS, ids=lambda block: block.label)
async def test_a_script_block_runs(block):
    """A Python block of the page runs as written, its own assertions included."""
    code = compile(block.code, f"{PAGE}:{block.line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    awaitable = eval(code, {"__name__": "__docs__"})  # noqa: S307 - our own page's code
    if awaitable is not None:
        await awaitable


def test_the_pytest_recipes_pass_in_a_project_of_their_own(tmp_path):
    """The page's conftest, settings and tests make a project whose every test passes."""
    names = [block.file_name for block in PROJECT]
    assert {"conftest.py", "pyproject.toml"} <= set(names)
    assert len(names) == len(set(names)), "two blocks write the same file"
    tests = 0
    for block in PROJECT:
        (tmp_path / block.file_name).write_text(block.code, encoding="utf-8")
        tests += len(re.findall(r"^(?:async )?def test_", block.code, re.MULTILINE))

    result = run_pytest(tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith(f"{tests} passed in "), result.stdout


@pytest.mark.parametrize("block", COMMANDS, ids=lambda block: block.label)
async def test_a_command_prints_what_the_page_shows(block):
    """The command runs, and prints the output block below it (on a free port, not 8080)."""
    expected = BLOCKS[BLOCKS.index(block) + 1]
    assert expected.lang == "text"
    command = shlex.split(block.code)
    assert command[:2] == ["aicore-bulk", "simulate"]
    assert "--port" in command
    command[command.index("--port") + 1] = "0"
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("aicore-bulk")),
        *command[1:],
        stdout=asyncio.subprocess.PIPE,
        env=bare_environment(),
    )
    lines: list[str] = []
    try:
        while not lines or lines[-1] != "Press Ctrl-C to stop.":
            line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
            assert line, "\n".join(lines)
            lines.append(line.decode().rstrip("\n"))
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), timeout=30)

    port = re.search(r"127\.0\.0\.1:(\d+)", lines[0]).group(1)
    assert "\n".join(lines) == expected.code.rstrip("\n").replace(":8080", f":{port}")
    assert process.returncode == 0
