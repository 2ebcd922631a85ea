from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from driftwarden.retrain.audit import GENESIS, AuditAction, AuditLog
from driftwarden.retrain.errors import AuditLogBroken
from tests.helpers import TickingClock

Lines = list[bytes]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "audit" / "audit.jsonl"


@pytest.fixture
def log(path: Path) -> AuditLog:
    return AuditLog(path, clock=TickingClock())


def fill(log: AuditLog, count: int = 4) -> None:
    for number in range(1, count + 1):
        log.append(AuditAction.PROMOTED, "churn", str(number), "worker", {"n": number})


def rewrite(path: Path, change: Callable[[Lines], Lines]) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(change(lines)))


def test_append_then_verify_round_trip(log: AuditLog, path: Path) -> None:
    first = log.append("retrain_requested", "churn", None, "monitor", {"trigger": "drift"})
    second = log.append(AuditAction.APPROVED, "churn", "2", "alice", {"reason": "ok"})

    assert log.verify() == 2
    assert list(log.entries()) == [first, second]
    assert (first.seq, first.prev, first.version) == (1, GENESIS, None)
    assert first.timestamp == "2023-11-14T22:13:21.000Z"
    assert second.action == "approved" and type(second.action) is str
    line_one = path.read_bytes().splitlines()[0]
    assert second.prev == hashlib.sha256(line_one).hexdigest()
    assert json.loads(line_one)["hash"] == first.content_hash()


def test_an_absent_log_is_empty_and_verifies(log: AuditLog) -> None:
    assert log.verify() == 0
    assert list(log.entries()) == []


def _edit_actor(lines: Lines) -> Lines:
    lines[1] = lines[1].replace(b'"worker"', b'"mallory"')
    return lines


def _edit_and_rehash(lines: Lines) -> Lines:
    entry = json.loads(lines[1])
    entry["actor"] = "mallory"
    body = {key: value for key, value in entry.items() if key != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    entry["hash"] = hashlib.sha256(canonical).hexdigest()
    lines[1] = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    return lines


def _delete_second(lines: Lines) -> Lines:
    return [lines[0], *lines[2:]]


def _swap_second_and_third(lines: Lines) -> Lines:
    return [lines[0], lines[2], lines[1], lines[3]]


def _insert_copy(lines: Lines) -> Lines:
    return [lines[0], lines[0], *lines[1:]]


def _shorten_last_hash(lines: Lines) -> Lines:
    entry = json.loads(lines[-1])
    entry["hash"] = entry["hash"][:-8]
    lines[-1] = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    return lines


def _cut_last_line_in_its_hash(lines: Lines) -> Lines:
    lines[-1] = lines[-1][:-20]
    return lines


def _cut_last_line_and_newline(lines: Lines) -> Lines:
    lines[-1] = lines[-1][:-20] + b"\n"
    return lines


@pytest.mark.parametrize(
    ("tamper", "line", "problem"),
    [
        (_edit_actor, 2, "hash does not match its content"),
        (_edit_and_rehash, 3, "prev does not match"),
        (_delete_second, 2, "seq is 3, expected 2"),
        (_swap_second_and_third, 2, "seq is 3, expected 2"),
        (_insert_copy, 2, "seq is 1, expected 2"),
        (_shorten_last_hash, 4, "hash does not match its content"),
        (_cut_last_line_in_its_hash, 4, "incomplete (no newline)"),
        (_cut_last_line_and_newline, 4, "not valid JSON"),
    ],
)
def test_verify_names_the_first_broken_line(
    log: AuditLog, path: Path, tamper: Callable[[Lines], Lines], line: int, problem: str
) -> None:
    fill(log)
    rewrite(path, tamper)

    with pytest.raises(AuditLogBroken, match=rf"audit\.jsonl line {line}: ") as caught:
        log.verify()

    assert problem in str(caught.value)


def test_an_entry_with_a_missing_key_is_no_entry(log: AuditLog, path: Path) -> None:
    fill(log, 1)
    entry = json.loads(path.read_bytes())
    del entry["details"]
    path.write_text(json.dumps(entry) + "\n")

    with pytest.raises(AuditLogBroken, match=r"line 1: not an audit entry"):
        log.verify()


def test_reopening_continues_the_chain(log: AuditLog, path: Path) -> None:
    fill(log, 2)

    reopened = AuditLog(path, clock=TickingClock(1_800_000_000.0))
    entry = reopened.append(AuditAction.ROLLED_BACK, "churn", "1", "bob", {"reason": "bad"})

    assert entry.seq == 3
    assert entry.prev == hashlib.sha256(path.read_bytes().splitlines()[1]).hexdigest()
    assert reopened.verify() == 3


def test_a_log_whose_last_line_is_torn_is_not_extended(log: AuditLog, path: Path) -> None:
    fill(log, 2)
    rewrite(path, _cut_last_line_in_its_hash)

    with pytest.raises(AuditLogBroken, match=r"last line.*incomplete"):
        AuditLog(path)
    with pytest.raises(AuditLogBroken, match=r"last line.*incomplete"):
        log.append("promoted", "churn", "3", "worker")


def test_two_logs_on_one_file_share_the_chain(log: AuditLog, path: Path) -> None:
    other = AuditLog(path, clock=TickingClock())  # e.g. a CLI next to the running worker

    log.append("approval_requested", "churn", "2", "worker")
    other.append("approved", "churn", "2", "alice", {"reason": "ok"})
    log.append("promoted", "churn", "2", "alice")

    assert [entry.seq for entry in log.entries()] == [1, 2, 3]
    assert log.verify() == 3


def test_concurrent_appends_are_serialized(log: AuditLog) -> None:
    def worker(number: int) -> None:
        for index in range(20):
            log.append("gate_evaluated", "churn", None, f"thread-{number}", {"i": index})

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert log.verify() == 120


def test_details_that_are_not_json_are_refused_before_writing(log: AuditLog, path: Path) -> None:
    fill(log, 1)
    before = path.read_bytes()

    with pytest.raises(TypeError):
        log.append("promoted", "churn", "2", "worker", {"when": object()})

    assert path.read_bytes() == before


def test_an_entry_needs_an_action_and_an_actor(log: AuditLog) -> None:
    with pytest.raises(ValueError, match="action and an actor"):
        log.append("promoted", "churn", "1", "")
