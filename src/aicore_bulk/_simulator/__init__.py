"""A faithful, in-memory simulator of SAP AI Core's AI API (``/v2/lm``).

The simulator follows ``shared/CONTRACT.md`` and the official OpenAPI spec, never our client:
it shares no code with the client side of the package, so a misreading of the contract
cannot hide in both at once. Its public face is :mod:`aicore_bulk.testing`.

Modules, each with one job:

* ``_rules``: the contract's status table, error codes and messages;
* ``_store``: items per resource group, with status changes that happen over time;
* ``_faults``: fault knobs and the seeded decisions drawn from them;
* ``_capacity``: how many requests are served at once, and the queue of the rest;
* ``_stats``: what the simulator saw, for tests (requests, batch sizes, violations);
* ``_seed``: deterministic workloads;
* ``_app``: the aiohttp.web application (HTTP in, HTTP out);
* ``_server``: running it on loopback, in-process or as a standalone server.
"""
