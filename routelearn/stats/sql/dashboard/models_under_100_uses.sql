-- Models under 100 uses (too few for learning)
--
-- Source: seed 000 (e4a018486a69f61b), section "Troubleshooting" / "Learning Not Improving
--   Scores", step 1 "Check if models have > 100 uses".
-- Corrected:
--   - Nothing: the query runs on our schema as written.
-- Notes:
--   - The step's heading says "> 100 uses", but the learner needs at least 100
--     (@min_samples_for_learning 100, skipped when usage_count < 100), so `usage_count < 100`
--     lists exactly the rows it skips; kept as written.
--   - usage_count counts decisions (each once), no longer events, so a row reaches 100 after
--     100 decisions rather than about 50.
SELECT model_name, complexity_level, usage_count
FROM model_routing_metrics
WHERE usage_count < 100
ORDER BY usage_count DESC;
