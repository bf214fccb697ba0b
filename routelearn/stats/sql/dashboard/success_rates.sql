-- Success rates per model and complexity
--
-- Source: seed 001 (c036db8547b0cf52), section "Monitoring" / "CentralCloud Dashboard Metrics",
--   query "-- Success rates".
-- Corrected:
--   - model -> model_name: model_routing_metrics has no column `model`; the query failed with
--     "column model does not exist". The result column is therefore model_name too.
--   - ROUND(x, 2) -> ROUND((x)::numeric, 2): x is double precision and PostgreSQL has no
--     round(double precision, integer); the query failed with "function round(double
--     precision, integer) does not exist".
-- Notes:
--   - usage_count counts decisions, so success_rate is successes per decision: a decision whose
--     outcome has not arrived yet counts as not (yet) a success.
--   - ORDER BY success_rate DESC puts NULLs first. success_rate is NULL only when usage_count is
--     0, and ingestion never writes such a row (a row is created by its first decision), so the
--     seed's ordering is kept.
SELECT model_name, complexity_level,
  ROUND((success_count::float / NULLIF(usage_count, 0) * 100)::numeric, 2) as success_rate,
  usage_count
FROM model_routing_metrics
ORDER BY success_rate DESC;
