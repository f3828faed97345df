-- The turns of an A/B replay (a scratch warehouse holding the one replayed day) that have a gold failure point:
-- who said what, in which arm (the simulator records it in `extra`; none: control), whether the rewrite table
-- (or the online layer) fired on it and which layer it logged, whether that rewrite was what the user taught
-- (the simulator records it in `extra` too), whether gold says it failed, and whether it relied on something
-- the user taught (gold `preference_use`).
SELECT t.user_id, t.asr_text,
       coalesce(json_extract_string(t.extra, '$.ab_arm'), 'control') AS arm,
       t.rewrite_applied IS NOT NULL AS rewritten,
       t.rewrite_applied.layer AS layer,
       coalesce(json_extract_string(t.extra, '$.rewrite_source') = 'taught', false) AS taught_rewrite,
       a.gold_failure_point <> 'correct' AS defective,
       EXISTS (SELECT 1 FROM ingest.annotations AS p
               WHERE p.day = t.day AND p.event_id = t.event_id AND p.is_gold AND p.task = 'preference_use') AS uses_taught
FROM ingest.clean_turns t
JOIN ingest.turn_annotations a
  ON a.day = t.day AND a.event_id = t.event_id AND a.gold_failure_point IS NOT NULL;
