"""The wire contract shared by firmware and console: topics and message schemas (v1)."""

from stilalarm.wire.messages import SCHEMA_VERSION, ContractCode, ContractError, encode, parse
from stilalarm.wire.topics import Topics

__all__ = ["SCHEMA_VERSION", "ContractCode", "ContractError", "Topics", "encode", "parse"]
