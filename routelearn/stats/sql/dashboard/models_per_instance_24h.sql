-- Models used per instance (last 24 hours)
--
-- Source: seed 000 (e4a018486a69f61b), section "Monitoring Dashboard Queries",
--   query "Models Used Per Instance (Last 24h)".
-- Corrected:
--   - COUNT(*) -> COUNT(DISTINCT decision_key) for usage_count: routing_records holds one row
--     per event, and a decision has a `routed` event and an outcome event, so COUNT(*) counted
--     it twice. decision_key names the decision, so usage_count now counts decisions, like
--     model_routing_metrics.usage_count.
--   - COUNT(CASE WHEN outcome = 'success' THEN 1 END)
--     -> COUNT(DISTINCT CASE WHEN outcome = 'success' THEN decision_key END) for success_count:
--     a decision can have more than one success event (a producer that resends an outcome
--     under a new event id), which counted twice; now success_count counts decisions with a
--     success, so it cannot exceed usage_count.
-- Notes:
--   - The metrics count only a decision's first outcome; here a decision with a failure event
--     and a later success event counts as a success. A decision whose events name different
--     models counts once under each model.
SELECT
  instance_id,
  model,
  COUNT(DISTINCT decision_key) as usage_count,
  COUNT(DISTINCT CASE WHEN outcome = 'success' THEN decision_key END) as success_count
FROM routing_records
WHERE timestamp > NOW() - INTERVAL '24 hours'
GROUP BY instance_id, model
ORDER BY instance_id, usage_count DESC;
