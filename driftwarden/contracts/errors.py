"""Errors of records that break the wire contract; each carries a fixed, label-safe category."""

from __future__ import annotations

from driftwarden.core.errors import DriftwardenError

__all__ = ["ContractError", "InvalidEvent", "InvalidRequest", "MalformedExample"]


class ContractError(DriftwardenError, ValueError):
    """A record on a topic that does not follow its schema."""


class InvalidEvent(ContractError):
    """A prediction or label that cannot be applied; ``reason`` is its dead-letter category."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class MalformedExample(ContractError):
    """An examples record that is not a joined example; ``reason`` is one of
    :data:`driftwarden.contracts.examples.SKIP_REASONS`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class InvalidRequest(ContractError):
    """A message on the requests topic that is not a valid schema-1 retrain request;
    ``category`` is one of :data:`driftwarden.contracts.requests.REJECTIONS`."""

    def __init__(self, category: str, message: str) -> None:
        super().__init__(message)
        self.category = category
