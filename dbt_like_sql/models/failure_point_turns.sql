-- Turns of the given days for the failure-point isolation model, in session order: the request, its response
-- and metadata (contract fields only), and the next two turns of the session that start within $follow_s
-- seconds (their request, response, status, barge-in, time gap): the "extended context" of Khaziev et al.
-- Gold and single-annotator failure points (ingest.turn_annotations) ride along where the session was audited.
WITH turns AS (
    SELECT
        t.day, t.event_id, t.session_id, t.ts,
        coalesce(t.asr_text, '') AS utterance,
        coalesce(t.response_text, '') AS response,
        coalesce(t.device_type, 'missing') AS device_type,
        coalesce(t.response_status, 'missing') AS status,
        coalesce(t.er_status, 'missing') AS er_status,
        t.wake_score, t.asr_confidence AS asr_conf, t.nlu_confidence AS nlu_conf,
        -- margin between the ASR 1-best and 2-best scores (NULL without an n-best list of two)
        t.asr_nbest[1].score - t.asr_nbest[2].score AS asr_margin,
        CASE WHEN t.nlu_domain IS NULL OR t.nlu_intent IS NULL THEN 'unknown'
             ELSE t.nlu_domain || '.' || t.nlu_intent END AS nlu_intent,
        coalesce(t.barge_in, false) AS barge_in,
        t.explicit_feedback,
        t.rewrite_applied IS NOT NULL AS rewritten,
        row_number() OVER w - 1 AS turn_index
    FROM ingest.clean_turns AS t
    WHERE t.day IN (SELECT unnest($days::DATE[]))
    WINDOW w AS (PARTITION BY t.session_id ORDER BY t.ts, t.event_id)
),
context AS (
    SELECT
        *,
        lead(utterance, 1) OVER w AS next1_utterance,
        lead(response, 1) OVER w AS next1_response,
        lead(status, 1) OVER w AS next1_status,
        lead(barge_in, 1) OVER w AS next1_barge_in,
        lead(nlu_intent, 1) OVER w AS next1_intent,
        epoch_ms(lead(ts, 1) OVER w) - epoch_ms(ts) AS next1_gap_ms,
        lead(utterance, 2) OVER w AS next2_utterance,
        lead(response, 2) OVER w AS next2_response,
        lead(status, 2) OVER w AS next2_status,
        epoch_ms(lead(ts, 2) OVER w) - epoch_ms(ts) AS next2_gap_ms
    FROM turns
    WINDOW w AS (PARTITION BY session_id ORDER BY ts, event_id)
),
labels AS (  -- gold and single annotator as ingest.turn_annotations defines them
    SELECT day, event_id, gold_failure_point, ann_failure_point
    FROM ingest.turn_annotations
    WHERE list_contains($days::DATE[], day)  -- list_contains, not IN (SELECT unnest ...): it reaches the scan
)
SELECT
    c.* EXCLUDE (next1_utterance, next1_response, next1_status, next1_barge_in, next1_intent, next1_gap_ms,
                 next2_utterance, next2_response, next2_status, next2_gap_ms),
    -- a following turn counts as context only when it starts within $follow_s seconds
    CASE WHEN c.next1_gap_ms <= $follow_s * 1000 THEN c.next1_utterance END AS next1_utterance,
    CASE WHEN c.next1_gap_ms <= $follow_s * 1000 THEN c.next1_response END AS next1_response,
    CASE WHEN c.next1_gap_ms <= $follow_s * 1000 THEN c.next1_status END AS next1_status,
    CASE WHEN c.next1_gap_ms <= $follow_s * 1000 THEN c.next1_barge_in END AS next1_barge_in,
    CASE WHEN c.next1_gap_ms <= $follow_s * 1000 THEN c.next1_intent END AS next1_intent,
    CASE WHEN c.next1_gap_ms <= $follow_s * 1000 THEN c.next1_gap_ms / 1000.0 END AS next1_gap_s,
    CASE WHEN c.next2_gap_ms <= $follow_s * 1000 THEN c.next2_utterance END AS next2_utterance,
    CASE WHEN c.next2_gap_ms <= $follow_s * 1000 THEN c.next2_response END AS next2_response,
    CASE WHEN c.next2_gap_ms <= $follow_s * 1000 THEN c.next2_status END AS next2_status,
    CASE WHEN c.next2_gap_ms <= $follow_s * 1000 THEN c.next2_gap_ms / 1000.0 END AS next2_gap_s,
    l.gold_failure_point,
    l.ann_failure_point
FROM context AS c
LEFT JOIN labels AS l ON l.day = c.day AND l.event_id = c.event_id
ORDER BY c.session_id, c.ts, c.event_id;
