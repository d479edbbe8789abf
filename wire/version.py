"""The one version of stilalarm (firmware and console alike): the installed distribution's, as
written once in pyproject.toml. A tree that is not installed reports `0+unknown`."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("stilalarm")
except PackageNotFoundError:  # running from a bare checkout
    VERSION = "0+unknown"
