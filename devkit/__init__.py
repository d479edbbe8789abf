"""The development harness, outside the product packages: the local system and its test site,
the demo, test doubles for the desk unit's ports, the site generator and the console bench.

Nothing in `firmware`, `console`, `wire`, `inventory` or `broker_config` imports it (a layer
contract in `make lint`); tests, `bench/`, `soak/` and `make demo` do.
"""
