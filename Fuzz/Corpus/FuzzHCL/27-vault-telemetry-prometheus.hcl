telemetry {
  prometheus_retention_time = "30s"
  disable_hostname = true
  usage_gauge_period = "10m"
  maximum_gauge_cardinality = 500
}
