-- The rows of signals.markov_transitions for one day (published as the day's lake partition by
-- lib/signals/store.py; forget-user counts a day again with it). Reformulation chains: each turn links to its
-- best-scoring later rephrase (score >= threshold; ties: nearer, then event id), and a turn claimed by several
-- earlier turns keeps only its best predecessor, so chains are disjoint paths A -> B -> C. Every link is a
-- transition between normalised utterances; every turn without a kept outgoing link (a chain's last turn, or
-- a turn in no chain) goes to __FAILURE__ if its defect_prob >= failure_threshold, else to __SUCCESS__. Turns
-- with empty text are skipped. Counts per (src, dst, rewritten, rewrite_id, rewrite_layer): rewritten = the
-- source turn had rewrite_applied, with that rewrite's id and the runtime layer that chose it (table, global,
-- personal).
WITH turns AS (
    SELECT d.event_id, d.session_id, d.user_id, d.norm_text, d.defect_prob,
           c.rewrite_applied IS NOT NULL AS rewritten,
           c.rewrite_applied.rewrite_id AS rewrite_id,
           c.rewrite_applied.layer AS rewrite_layer
    FROM signals.defect_signals AS d
    JOIN ingest.clean_turns AS c ON c.day = d.day AND c.event_id = d.event_id
    WHERE d.day = $day AND d.norm_text <> ''
),
best_next AS (
    SELECT first_event_id, second_event_id, score, turn_distance
    FROM signals.rephrase_candidates
    WHERE day = $day AND score >= $threshold
    QUALIFY row_number() OVER (
        PARTITION BY first_event_id ORDER BY score DESC, turn_distance, second_event_id) = 1
),
links AS (
    SELECT first_event_id, second_event_id
    FROM best_next
    QUALIFY row_number() OVER (
        PARTITION BY second_event_id ORDER BY score DESC, turn_distance, first_event_id) = 1
),
edges AS (
    SELECT
        t.session_id, t.user_id, t.rewritten, t.rewrite_id, t.rewrite_layer, t.norm_text AS src,
        coalesce(n.norm_text, CASE WHEN t.defect_prob >= $failure_threshold THEN '__FAILURE__'
                                   ELSE '__SUCCESS__' END) AS dst
    FROM turns AS t
    LEFT JOIN links AS l ON l.first_event_id = t.event_id
    LEFT JOIN turns AS n ON n.event_id = l.second_event_id
)
SELECT
    $day::DATE AS day, src, dst,
    count(*) AS n_transitions,
    count(DISTINCT session_id) AS n_sessions,
    list_sort(list(DISTINCT user_id)) AS users,
    rewritten, rewrite_id, rewrite_layer
FROM edges
GROUP BY src, dst, rewritten, rewrite_id, rewrite_layer
