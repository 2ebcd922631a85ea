#!/usr/bin/env bash
# Regenerates the vendored JSON schemas (*.schema.json) next to this script from Grafana's
# published TypeScript types, with ts-json-schema-generator. Needs node >= 20 and npm with access
# to the npm registry; the tests only read the generated files.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
prometheus_version="12.1.0"  # keep equal to @grafana/schema's version in package.json

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/package.json" "$here/package-lock.json" "$work/"
cp -r "$here/src" "$work/src"
cd "$work"
npm ci --no-audit --no-fund --ignore-scripts

# @grafana/prometheus depends on the whole Grafana front end; take only its query type.
npm pack --silent "@grafana/prometheus@$prometheus_version" >/dev/null
tar -xzf "grafana-prometheus-$prometheus_version.tgz" package/dist/types/dataquery.d.ts
# Its scopes, adhocFilters and groupByKeys fields need @grafana/data's types (not installed, and
# unused by dashboards): drop them and that import, failing if the file no longer has them.
grep -v -E "^import .*'@grafana/data';$|^    (scopes|adhocFilters|groupByKeys)\?: " \
    package/dist/types/dataquery.d.ts >src/prometheus-dataquery.d.ts
removed=$(($(wc -l <package/dist/types/dataquery.d.ts) - $(wc -l <src/prometheus-dataquery.d.ts)))
if [ "$removed" -ne 4 ]; then
    echo "generate.sh: expected to drop 4 lines of dataquery.d.ts, dropped $removed" >&2
    exit 1
fi

# One file per root type: the panel plugins' types share names (Options, FieldConfig), which one
# schema's flat definitions cannot hold apart. The Prometheus query is inlined (--expose none):
# its base type, DataQuery, has two declarations in @grafana/schema (raw and veneer).
generate() {
    npx ts-json-schema-generator --path src/roots.ts --tsconfig src/tsconfig.json \
        --type "$1" --out "$here/$2.schema.json" "${@:3}"
}
generate Dashboard dashboard
generate PrometheusQuery prometheus-query --expose none
generate TimeseriesPanel panel-timeseries
generate StatPanel panel-stat
generate TablePanel panel-table
generate StateTimelinePanel panel-state-timeline
echo "generated: $(cd "$here" && ls ./*.schema.json | tr '\n' ' ')"
