// Root types of the vendored JSON schemas: one schema file per root (see ../generate.sh).
// Types come from Grafana's published packages: @grafana/schema (dashboard model and panel
// plugin options) and @grafana/prometheus (the Prometheus query model, fetched by generate.sh).
import type * as stat from '@grafana/schema/dist/types/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen';
import type * as statetimeline from '@grafana/schema/dist/types/raw/composable/statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen';
import type * as table from '@grafana/schema/dist/types/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen';
import type * as timeseries from '@grafana/schema/dist/types/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen';

import type { Prometheus } from './prometheus-dataquery';

/** A dashboard as Grafana stores and provisions it (the classic JSON model, schemaVersion 41). */
export type { Dashboard } from '@grafana/schema/dist/types/raw/dashboard/x/dashboard_types.gen';

/**
 * A Prometheus panel target, without `scopes`, `adhocFilters` and `groupByKeys`: generate.sh drops
 * them, as their types live in the Grafana data package, and dashboards do not use them.
 */
export type PrometheusQuery = Prometheus;

/** A panel plugin's `options` and `fieldConfig.defaults.custom`. */
export interface TimeseriesPanel {
  options: timeseries.Options;
  custom: timeseries.FieldConfig;
}

export interface StatPanel {
  options: stat.Options;
}

export interface TablePanel {
  options: table.Options;
  custom: table.FieldConfig;
}

export interface StateTimelinePanel {
  options: statetimeline.Options;
  custom: statetimeline.FieldConfig;
}
