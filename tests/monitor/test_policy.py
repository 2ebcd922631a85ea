from __future__ import annotations

from driftwarden.monitor.policy import PolicyRules, RetrainPolicy, VersionView


def view(
    version: str = "1",
    joined: int = 1000,
    accuracy: float = 0.9,
    alarms: dict[str, tuple[str, ...]] | None = None,
) -> VersionView:
    return VersionView(version, joined, {"accuracy": accuracy}, alarms or {})


def test_alarm_storm_yields_one_request_per_cooldown() -> None:
    policy = RetrainPolicy(
        {
            "m": PolicyRules(
                drift_kinds=("concept", "data"), min_features=1, min_examples=100, cooldown=600
            )
        }
    )
    storm = view(alarms={"concept": ("__error__",), "data": ("x", "y")})
    requests = []
    for second in range(0, 3600, 5):  # an alarm every 5 s for an hour, 1000 new joins a minute
        joined = 1000 + second * 17
        request = policy.check("m", view(joined=joined, alarms=storm.active_alarms), second)
        if request is not None:
            requests.append((second, request.reason))
    assert requests == [
        (0, "drift"),
        (600, "drift"),
        (1200, "drift"),
        (1800, "drift"),
        (2400, "drift"),
        (3000, "drift"),
    ]


def test_new_requests_wait_for_evidence_on_the_serving_version() -> None:
    policy = RetrainPolicy(
        {"m": PolicyRules(metric="accuracy", value=0.85, min_examples=500, cooldown=60)}
    )
    assert policy.check("m", view(joined=600, accuracy=0.7), now=0) is not None
    # Cooldown over, but the new version "2" has only 100 joined examples so far.
    assert policy.check("m", view("2", joined=100, accuracy=0.5), now=1000) is None
    request = policy.check("m", view("2", joined=500, accuracy=0.5), now=1100)
    assert request is not None and request.version == "2"
    assert request.evidence == {
        "metric": "accuracy",
        "value": 0.5,
        "threshold": 0.85,
        "joined": 500,
    }


def test_performance_needs_min_examples_and_a_breach() -> None:
    policy = RetrainPolicy({"m": PolicyRules(metric="accuracy", value=0.85, min_examples=500)})
    assert policy.check("m", view(joined=499, accuracy=0.1), now=0) is None
    assert policy.check("m", view(joined=800, accuracy=0.86), now=0) is None
    assert policy.check("other", view(joined=800, accuracy=0.1), now=0) is None


def test_drift_counts_alarms_of_the_listed_kinds_only() -> None:
    policy = RetrainPolicy({"m": PolicyRules(drift_kinds=("data",), min_features=2)})
    assert policy.check("m", view(alarms={"data": ("x",), "concept": ("__error__",)}), 0) is None
    request = policy.check("m", view(alarms={"data": ("x", "y")}), 0)
    assert request is not None and request.evidence == {"alarms": ["data:x", "data:y"]}
