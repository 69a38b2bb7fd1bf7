"""The benchmarks: scripts to run (``nox -s bench``), importable for the smoke tests."""
