-- Models used per instance (last day)
--
-- Source: seed 001 (c036db8547b0cf52), section "Monitoring" / "CentralCloud Dashboard Metrics",
--   query "-- Models used per instance".
-- Corrected:
--   - COUNT(*) -> COUNT(DISTINCT decision_key): routing_records holds one row per event, and a
--     decision has a `routed` event and an outcome event, so COUNT(*) counted it twice (and once
--     more per extra outcome event). decision_key names the decision, so usage_count now counts
--     decisions, like model_routing_metrics.usage_count.
-- Notes:
--   - `model` is right here: it is a column of routing_records (model_routing_metrics calls it
--     model_name).
--   - A decision whose events name different models (stored for audit, uncounted in the
--     metrics) counts once under each model.
SELECT instance_id, model, COUNT(DISTINCT decision_key) as usage_count
FROM routing_records
WHERE timestamp > NOW() - INTERVAL '1 day'
GROUP BY instance_id, model
ORDER BY usage_count DESC;
