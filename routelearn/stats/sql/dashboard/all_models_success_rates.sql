-- All models and success rates
--
-- Source: seed 000 (e4a018486a69f61b), section "Monitoring Dashboard Queries",
--   query "View All Models and Success Rates".
-- Corrected:
--   - ROUND(x, 2) -> ROUND((x)::numeric, 2) for success_rate: x is double precision and
--     PostgreSQL has no round(double precision, integer); the query failed with "function
--     round(double precision, integer) does not exist". (avg_ms already cast to numeric.)
-- Notes:
--   - usage_count counts decisions, so success_rate is successes per decision: a decision whose
--     outcome has not arrived yet counts as not (yet) a success.
--   - ORDER BY success_rate DESC puts NULLs first within a complexity level. success_rate is
--     NULL only when usage_count is 0, and ingestion never writes such a row (a row is created
--     by its first decision), so the seed's ordering is kept.
SELECT
  model_name,
  complexity_level,
  usage_count,
  ROUND(
    (success_count::float / NULLIF(usage_count, 0) * 100)::numeric, 2
  ) as success_rate,
  ROUND(avg_response_time::numeric, 0) as avg_ms
FROM model_routing_metrics
ORDER BY complexity_level, success_rate DESC;
