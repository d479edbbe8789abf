"""The wire contract shared by firmware and console: topics and message schemas (v1)."""

from wire.messages import SCHEMA_VERSION, ContractCode, ContractError, encode, parse
from wire.topics import Topics

__all__ = ["SCHEMA_VERSION", "ContractCode", "ContractError", "Topics", "encode", "parse"]
