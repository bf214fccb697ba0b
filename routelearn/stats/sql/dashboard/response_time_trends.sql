-- Response time trends per model and complexity
--
-- Source: seed 001 (c036db8547b0cf52), section "Monitoring" / "CentralCloud Dashboard Metrics",
--   query "-- Response time trends".
-- Corrected:
--   - model -> model_name (in SELECT and GROUP BY): model_routing_metrics has no column `model`;
--     the query failed with "column model does not exist". The result column is therefore
--     model_name too.
-- Notes:
--   - The ROUND here already casts to numeric, so it runs as the seed wrote it.
--   - model_routing_metrics holds one row per (model_name, complexity_level), so each group is
--     one row: avg_ms is that row's avg_response_time rounded to whole ms, and max_ms is the
--     same average unrounded, not the slowest response. For tail latency read the row's
--     response_time_histogram (routelearn.domain.latency.percentile).
--   - avg_ms is never NULL (WHERE avg_response_time IS NOT NULL), so DESC ordering has no NULLs.
SELECT model_name, complexity_level,
  ROUND(AVG(avg_response_time)::numeric, 0) as avg_ms,
  MAX(avg_response_time) as max_ms
FROM model_routing_metrics
WHERE avg_response_time IS NOT NULL
GROUP BY model_name, complexity_level
ORDER BY avg_ms DESC;
