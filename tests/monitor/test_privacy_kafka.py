"""PII end to end on the real broker: monitor, dead letters, profile build and a retrain run.

Predictions carry distinctive raw e-mail addresses and user ids (as features, and in bad
messages and their headers); afterwards neither appears in any byte of the output topics, the
logs, the state directory, the reference profile or the registry.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from driftwarden.cli import main
from driftwarden.config import load_config
from driftwarden.core.privacy import pseudonym
from driftwarden.retrain.dataset import read_base_table
from driftwarden.retrain.features import make_pipeline
from driftwarden.retrain.registry import ModelRegistry
from driftwarden.retrain.settings import RetrainSettings
from driftwarden.testing import TansuBroker, create_topics, produce
from tests.conftest import TopicNames
from tests.monitor.harness import ThreadedMonitor, monitor_config, read_topic, write_config

pytestmark = pytest.mark.kafka

KEY = "pii-e2e-key-0f8e7d6c5b4a39281706"
DOMAIN = "@pii-e2e.example"
N = 120
Message = tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]


def email(i: int) -> str:
    return f"secret.person{i % (N // 2)}{DOMAIN}"  # every address is used twice


def user_id(i: int) -> int:
    return 917_305_441 + i


def raw_values() -> list[bytes]:
    """What must appear nowhere: the e-mail domain and every user id."""
    return [DOMAIN.encode(), *(str(user_id(i)).encode() for i in range(-400, N + 10))]


def write_table(path: Path, rows: int, seed: int, offset: int) -> Path:
    rng = np.random.default_rng(seed)
    lines = ["email,user_id,x1,plan,label"]
    for i in range(rows):
        x1 = rng.normal()
        lines.append(
            f"{email(i)},{user_id(offset + i)},{x1},{'pro' if i % 3 else 'basic'},{int(x1 > 0)}"
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def pii_config(
    broker: TansuBroker, topic_names: TopicNames, tmp_path: Path, mode: str
) -> dict[str, Any]:
    features = {"x1": "numeric", "plan": "categorical"}
    if mode == "hash":
        features["email"] = "categorical"  # a hashed feature can be drift-checked
    config = monitor_config(
        broker.bootstrap,
        topic_names("pii"),
        tmp_path / "state",
        features=features,
        pii=["email", "user_id"],
        pii_mode=mode,
        reference=str(tmp_path / "profile.json"),
        drift={"window": 50, "every": 50},
        training={
            "params": {"max_iter": 20},
            "data": {"base": str(write_table(tmp_path / "base.csv", 300, 1, -400))},
        },
        retrain={"when": {"performance_below": {"value": 1.01, "min_examples": 50}}},
    )
    config["privacy"] = {"hash_key": {"env": "DW_TEST_PII_KEY"}}
    config["registry"] = str(tmp_path / "registry")
    config["logging"] = {"level": "DEBUG"}
    topics = config["topics"]
    create_topics(broker.bootstrap, [topics["predictions"], topics["labels"]], partitions=2)
    outputs = ("examples", "retrain_requests", "events", "dead_letter")
    create_topics(broker.bootstrap, [topics[name] for name in outputs], partitions=1)
    return config


def traffic(topics: dict[str, str]) -> list[Message]:
    rng = np.random.default_rng(2)
    messages: list[Message] = []
    for i in range(N):
        pid = f"p-{i}"
        features = {"email": email(i), "user_id": user_id(i), "x1": rng.normal(3.0), "plan": "pro"}
        prediction = {
            "prediction_id": pid,
            "model": "churn",
            "model_version": "1",
            "timestamp": 1_795_600_000 + i,
            "features": features,
            "prediction": 1,
        }
        label = {
            "prediction_id": pid,
            "model": "churn",
            "label": i % 2,
            "timestamp": 1_795_600_000 + i,
        }
        messages.append((topics["predictions"], pid.encode(), orjson.dumps(prediction), []))
        messages.append((topics["labels"], pid.encode(), orjson.dumps(label), []))
        if i == 5:  # a duplicate, a bad feature type, an unknown model
            dup = orjson.dumps({**prediction, "prediction_id": "p-dup"})
            messages += [(topics["predictions"], b"p-dup", dup, [])] * 2
            bad = {**prediction, "features": {**features, "x1": [1, 2]}}
            messages.append((topics["predictions"], pid.encode(), orjson.dumps(bad), []))
            other = {**prediction, "model": "nope"}
            messages.append((topics["predictions"], pid.encode(), orjson.dumps(other), []))
    header = [("email", email(1).encode()), ("trace", b"t-1")]
    broken = f'{{"model": "churn", "features": {{"email": "{email(2)}", "user_id": {user_id(2)}'
    messages.append((topics["predictions"], b"x", broken.encode(), header))
    no_ts = {"prediction_id": "p-1", "model": "churn", "label": 1, "email": email(3)}
    messages.append((topics["labels"], b"p-1", orjson.dumps(no_ts), header))
    return messages


def record_bytes(record: Any) -> bytes:
    headers = b"".join(name.encode() + (value or b"") for name, value in record.headers)
    return (record.key or b"") + (record.value or b"") + headers


def file_bytes(root: Path) -> Iterator[tuple[Path, bytes]]:
    """Every file under ``root``, zip archives (skops artifacts) unpacked."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        blob = path.read_bytes()
        yield path, blob
        if zipfile.is_zipfile(io.BytesIO(blob)):
            with zipfile.ZipFile(io.BytesIO(blob)) as archive:
                for name in archive.namelist():
                    yield path / name, archive.read(name)


def assert_clean(where: str, blob: bytes) -> None:
    for raw in raw_values():
        assert raw not in blob, f"raw PII {raw!r} found in {where}"


@pytest.mark.parametrize("mode", ["drop", "hash"])
def test_raw_pii_appears_nowhere(
    broker: TansuBroker,
    topic_names: TopicNames,
    tmp_path: Path,
    mode: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DW_TEST_PII_KEY", KEY)
    caplog.set_level(logging.WARNING, logger="kafka")  # as configure_logging("DEBUG") does
    caplog.set_level(logging.DEBUG)  # last: it sets the level of caplog's handler too
    config = pii_config(broker, topic_names, tmp_path, mode)
    path = write_config(tmp_path / "driftwarden.yaml", config)
    train = write_table(tmp_path / "train.csv", 400, 3, -400)
    build = ["profile", "build", "--model", "churn", "--data", str(train), "--label", "label"]
    assert main([*build, "--config", str(path), "--out", str(tmp_path / "profile.json")]) == 0

    topics = config["topics"]
    sent = produce(broker.bootstrap, traffic(topics))
    with ThreadedMonitor(config) as monitor:
        samples = monitor.wait_consumed(sent)
    checked = {
        dict(labels)["feature"] for name, labels in samples if name == "driftwarden_drift_score"
    }
    # A hashed feature declared categorical is drift-checked (on pseudonyms); a dropped one is not.
    assert checked >= {"x1", "plan"} and "user_id" not in checked
    assert ("email" in checked) == (mode == "hash")
    assert any(r.name.startswith("driftwarden.monitor") for r in caplog.records)
    assert_clean("the monitor's logs", caplog.text.encode())
    # The command logs to stderr at the config's level (DEBUG), replacing caplog's handler.
    assert main(["retrain", "run", "--config", str(path), "--model", "churn"]) == 0
    out, err = capsys.readouterr()
    assert "training churn" in err and '"outcome": "promoted"' in out
    assert_clean("the command's output and logs", (out + err).encode())
    register_imported_model(path, train, tmp_path / "imported.skops")
    out, err = capsys.readouterr()
    assert "churn 2: production" in out
    assert_clean("the command's output and logs", (out + err).encode())

    outputs = {
        name: read_topic(broker.bootstrap, topics[name], expected)
        for name, expected in [
            ("examples", N),
            ("dead_letter", 5),
            ("events", 3),
            ("retrain_requests", 1),
        ]
    }
    assert len(outputs["examples"]) == N and len(outputs["dead_letter"]) == 5
    assert outputs["events"] and outputs["retrain_requests"]
    for name, records in outputs.items():
        for record in records:
            assert_clean(f"{name} record {record.offset}", record_bytes(record))
    files = [*file_bytes(tmp_path / "state"), *file_bytes(tmp_path / "registry")]
    assert any(p.name == "monitor.ckpt" for p, _ in files)
    assert any(p.name == "model.skops" for p, _ in files)
    files.append((tmp_path / "profile.json", (tmp_path / "profile.json").read_bytes()))
    for file, blob in files:
        assert_clean(str(file), blob)

    examples = [orjson.loads(r.value) for r in outputs["examples"]]
    check_features(examples, mode, ModelRegistry(tmp_path / "registry"))


def register_imported_model(config: Path, table: Path, artifact: Path) -> None:
    """``models register`` with a training table that holds raw PII columns."""
    settings = RetrainSettings.from_config(load_config(config))
    examples, _ = read_base_table(table, "label", settings.model("churn").pii)
    rows = [dict(e.features) for e in examples]
    sio.dump(make_pipeline(LogisticRegression()).fit(rows, [e.label for e in examples]), artifact)
    register = ["models", "register", "--model", "churn", "--artifact", str(artifact)]
    assert main([*register, "--data", str(table), "--by", "bob", "--config", str(config)]) == 0


def check_features(examples: list[dict[str, Any]], mode: str, registry: ModelRegistry) -> None:
    """Dropped: gone everywhere. Hashed: the keyed pseudonym, the same in every place."""
    profile, imported = registry.profile("churn", "1"), registry.profile("churn", "2")
    assert profile is not None and imported is not None
    if mode == "drop":
        assert all(set(e["features"]) == {"x1", "plan"} for e in examples)
        assert set(profile["features"]) == set(imported["features"]) == {"x1", "plan"}
        return
    key = KEY.encode()
    by_email: dict[str, list[str]] = {}
    for example in examples:
        i = int(example["prediction_id"].removeprefix("p-"))
        assert example["features"]["email"] == pseudonym(email(i), key)
        assert example["features"]["user_id"] == pseudonym(user_id(i), key)
        assert example["features"]["email"] != pseudonym(email(i), b"another-key-of-16-bytes")
        by_email.setdefault(email(i), []).append(example["features"]["email"])
    # Every address was sent twice, and both times got the same pseudonym.
    assert all(len(hashes) == 2 and len(set(hashes)) == 1 for hashes in by_email.values())
    # The registry profile counts the base table's and the examples' pseudonyms alike.
    assert pseudonym(email(0), key) in profile["features"]["email"]["categories"]
    assert pseudonym(email(0), key) in imported["features"]["email"]["categories"]
