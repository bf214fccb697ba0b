-- Recent learning updates
--
-- Source: seed 000 (e4a018486a69f61b), section "Monitoring Dashboard Queries",
--   query "Recent Learning Updates".
-- Corrected:
--   - ROUND(x, 2) -> ROUND((x)::numeric, 2) for success_rate: x is double precision and
--     PostgreSQL has no round(double precision, integer); the query failed with "function
--     round(double precision, integer) does not exist".
-- Notes:
--   - updated_at is set on every metrics upsert, so these are the (model, complexity) rows that
--     most recently received decisions or outcomes, not only rows whose score was relearned.
--   - usage_count counts decisions, so success_rate is successes per decision.
SELECT
  model_name,
  complexity_level,
  usage_count,
  ROUND(
    (success_count::float / NULLIF(usage_count, 0) * 100)::numeric, 2
  ) as success_rate,
  updated_at
FROM model_routing_metrics
ORDER BY updated_at DESC
LIMIT 20;
