-- Turns of the given days for the contextual rephrase detector, in session order: contract fields only
-- (utterance, response, status, barge-in, explicit feedback, time) and the gold `rephrase_of` annotation
-- (ingest.turn_annotations; has_gold_rephrase = the turn was annotated, rephrase_of NULL = no rephrase).
WITH gold AS (
    SELECT day, event_id, gold_rephrase_of AS rephrase_of
    FROM ingest.turn_annotations
    WHERE has_gold_rephrase_of AND list_contains($days::DATE[], day)
)
SELECT
    t.day, t.event_id, t.session_id, t.ts,
    coalesce(t.asr_text, '') AS utterance,
    coalesce(t.response_text, '') AS response,
    coalesce(t.response_status, 'missing') AS status,
    coalesce(t.barge_in, false) AS barge_in,
    coalesce(t.explicit_feedback = 'negative', false) AS negative_feedback,
    g.event_id IS NOT NULL AS has_gold_rephrase,
    g.rephrase_of AS gold_rephrase_of
FROM ingest.clean_turns AS t
LEFT JOIN gold AS g ON g.day = t.day AND g.event_id = t.event_id
WHERE t.day IN (SELECT unnest($days::DATE[]))
ORDER BY t.session_id, t.ts, t.event_id;
