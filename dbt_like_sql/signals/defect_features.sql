-- Every implicit and explicit defect signal of each turn of one day, into a temp table (defect_prob is added
-- on insert into signals.defect_signals). Reads ingest.clean_turns and the registered relation
-- _signals_norm_text(event_id, norm_text). A signal read from an absent (NULL) field is NULL. Partition-local:
-- a session is cut at the day boundary, so the day's last turn of a session counts as its last turn.
CREATE OR REPLACE TEMP TABLE _signals_defect_features AS
WITH turns AS (
    SELECT
        c.day, c.event_id, c.session_id, c.user_id, c.ts, coalesce(n.norm_text, '') AS norm_text,
        c.response_status, c.asr_confidence, c.nlu_confidence, c.wake_score, c.er_status,
        c.barge_in, c.explicit_feedback, c.response_duration_ms,
        row_number() OVER w AS turn_index,
        lead(c.ts) OVER w AS next_ts
    FROM ingest.clean_turns AS c
    LEFT JOIN _signals_norm_text AS n USING (event_id)
    WHERE c.day = $day
    WINDOW w AS (PARTITION BY c.session_id ORDER BY c.ts, c.event_id)
),
similar_follow_up AS (
    SELECT DISTINCT a.event_id
    FROM turns AS a
    JOIN turns AS b
      ON b.session_id = a.session_id
     AND b.turn_index BETWEEN a.turn_index + 1 AND a.turn_index + $similar_max_turn_distance
    WHERE a.norm_text <> '' AND b.norm_text <> ''
      AND date_diff('millisecond', a.ts, b.ts) <= $similar_gap_s * 1000
      AND signals.lexical_similarity(a.norm_text, b.norm_text) >= $similar_threshold
)
SELECT
    t.day, t.event_id, t.session_id, t.user_id, t.ts, t.turn_index::INTEGER AS turn_index, t.norm_text,
    t.response_status, t.asr_confidence, t.nlu_confidence, t.wake_score,
    date_diff('millisecond', t.ts, t.next_ts) / 1000.0 AS next_gap_s,
    t.barge_in,
    t.response_status = 'error' AS response_error,
    t.response_status = 'unsupported' AS response_unsupported,
    t.response_status = 'no_response' AS response_no_response,
    t.response_status = 'clarify' AS response_clarify,
    coalesce(t.explicit_feedback = 'negative', false) AS explicit_negative,
    coalesce(t.explicit_feedback = 'positive', false) AS explicit_positive,
    -- A non-success response and no further request of the session within abandon_gap_s, measured from the
    -- end of the response when its duration is known (else from the request start). The last turn of a
    -- session after a non-success response is abandoned.
    t.response_status <> 'success' AND (
        t.next_ts IS NULL
        OR date_diff('millisecond', t.ts, t.next_ts) - coalesce(t.response_duration_ms, 0) > $abandon_gap_s * 1000
    ) AS abandoned,
    s.event_id IS NOT NULL AS followed_by_similar,
    t.asr_confidence < $low_asr_confidence AS low_asr_confidence,
    t.nlu_confidence < $low_nlu_confidence AS low_nlu_confidence,
    t.wake_score < $low_wake_score AS low_wake_score,
    t.er_status = 'unresolved' AS er_unresolved
FROM turns AS t
LEFT JOIN similar_follow_up AS s USING (event_id)
