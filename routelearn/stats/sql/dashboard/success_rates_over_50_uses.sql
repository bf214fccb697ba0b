-- Success rates of models over 50 uses
--
-- Source: seed 000 (e4a018486a69f61b), section "Troubleshooting" / "Learning Not Improving
--   Scores", step 2 "Check success rates".
-- Corrected:
--   - ROUND(x, 2) -> ROUND((x)::numeric, 2): x is double precision and PostgreSQL has no
--     round(double precision, integer); the query failed with "function round(double
--     precision, integer) does not exist".
-- Notes:
--   - No NULLIF is needed: WHERE usage_count > 50 filters rows before the division.
--   - ORDER BY success_rate ascending (worst first) cannot meet a NULL here.
--   - usage_count counts decisions, so success_rate is successes per decision.
SELECT model_name, complexity_level,
  success_count, usage_count,
  ROUND((success_count::float / usage_count * 100)::numeric, 2) as success_rate
FROM model_routing_metrics
WHERE usage_count > 50
ORDER BY success_rate;
