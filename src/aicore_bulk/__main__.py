"""``python -m aicore_bulk`` is the ``aicore-bulk`` command."""

from aicore_bulk._cli import main

raise SystemExit(main())
