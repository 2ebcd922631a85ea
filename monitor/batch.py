"""What a micro-batch reads (consumed records) and yields (records to publish)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["BatchOutput", "ConsumedRecord", "Headers", "OutputRecord"]

Headers = list[tuple[str, bytes]]


class ConsumedRecord(Protocol):
    """The fields of a kafka-python ``ConsumerRecord`` that processing reads."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def timestamp(self) -> int: ...  # Kafka timestamp in milliseconds, -1 if none
    @property
    def headers(self) -> Iterable[tuple[str, bytes | None]]: ...


@dataclass(frozen=True, slots=True)
class OutputRecord:
    key: bytes | None
    value: bytes | None
    headers: Headers


@dataclass(slots=True)
class BatchOutput:
    examples: list[OutputRecord] = field(default_factory=list)
    dead_letters: list[OutputRecord] = field(default_factory=list)
    events: list[OutputRecord] = field(default_factory=list)
    requests: list[OutputRecord] = field(default_factory=list)
