"""Write prometheusrule.yaml: a PrometheusRule whose spec.groups are deploy/prometheus/rules.yml's.

    python deploy/kubernetes/render_prometheusrule.py          # rewrite prometheusrule.yaml
    python deploy/kubernetes/render_prometheusrule.py --check  # exit 1 if it is out of date

rules.yml is the source (promtool tests it); tests/deploy/test_kubernetes.py fails when the
groups differ. Needs PyYAML (installed with driftwarden).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
RULES = HERE.parent / "prometheus" / "rules.yml"
OUTPUT = HERE / "prometheusrule.yaml"
HEADER = """\
# Generated from deploy/prometheus/rules.yml by deploy/kubernetes/render_prometheusrule.py; do
# not edit: change rules.yml and run the script. tests/deploy/test_kubernetes.py checks that
# spec.groups equal the groups of rules.yml. Add the label your Prometheus' ruleSelector expects
# (e.g. `release: <helm release>` for kube-prometheus-stack) when you apply it.
"""


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (PromQL, descriptions) as literal blocks, as rules.yml writes them."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def render(rules_text: str) -> str:
    """The PrometheusRule manifest for the rules file's text."""
    rules = yaml.safe_load(rules_text)
    if not isinstance(rules, dict) or not isinstance(rules.get("groups"), list):
        raise ValueError(f"{RULES}: expected a mapping with a 'groups' list")
    document: dict[str, Any] = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "driftwarden",
            "labels": {
                "app.kubernetes.io/name": "driftwarden",
                "app.kubernetes.io/part-of": "driftwarden",
            },
        },
        "spec": {"groups": rules["groups"]},
    }
    body = yaml.dump(document, Dumper=_BlockDumper, sort_keys=False, width=100, allow_unicode=True)
    return HEADER + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that it is up to date")
    args = parser.parse_args(argv)
    wanted = render(RULES.read_text())
    if args.check:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current != wanted:
            print(f"{OUTPUT} is out of date: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
