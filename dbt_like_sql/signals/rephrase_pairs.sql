-- Rephrase candidate pairs of one day into a temp table: (turn, later turn) of one session with non-empty
-- text, at most max_turn_distance turns and max_gap_s seconds (request starts) apart, with their features
-- and the heuristic score. Reads signals.defect_signals, ingest.clean_turns and the registered relation
-- _signals_phonetic(norm_text, phonetic).
CREATE OR REPLACE TEMP TABLE _signals_rephrase_pairs AS
WITH turns AS (
    SELECT
        d.day, d.event_id, d.session_id, d.user_id, d.ts, d.turn_index, d.norm_text, d.defect_prob,
        d.response_status, c.asr_text, c.nlu_domain, c.nlu_intent,
        CASE WHEN c.nlu_slots IS NOT NULL THEN list_sort(c.nlu_slots) END AS slots,
        p.phonetic
    FROM signals.defect_signals AS d
    JOIN ingest.clean_turns AS c ON c.day = d.day AND c.event_id = d.event_id
    JOIN _signals_phonetic AS p ON p.norm_text = d.norm_text
    WHERE d.day = $day AND d.norm_text <> ''
),
pairs AS (
    SELECT
        a.day, a.session_id, a.user_id,
        a.event_id AS first_event_id, b.event_id AS second_event_id,
        a.asr_text AS first_text, b.asr_text AS second_text,
        date_diff('millisecond', a.ts, b.ts) / 1000.0 AS time_gap_s,
        (b.turn_index - a.turn_index)::INTEGER AS turn_distance,
        signals.token_jaccard(a.norm_text, b.norm_text) AS token_jaccard,
        signals.edit_similarity(a.norm_text, b.norm_text) AS edit_similarity,
        jaro_winkler_similarity(a.norm_text, b.norm_text) AS jaro_winkler,
        signals.edit_similarity(a.phonetic, b.phonetic) AS phonetic_similarity,
        CASE WHEN a.nlu_domain IS NOT NULL OR b.nlu_domain IS NOT NULL
             THEN a.nlu_domain IS DISTINCT FROM b.nlu_domain END AS domain_changed,
        CASE WHEN a.nlu_intent IS NOT NULL OR b.nlu_intent IS NOT NULL
             THEN a.nlu_intent IS DISTINCT FROM b.nlu_intent END AS intent_changed,
        CASE WHEN a.slots IS NOT NULL OR b.slots IS NOT NULL
             THEN a.slots IS DISTINCT FROM b.slots END AS slots_changed,
        a.defect_prob AS first_defect_prob,
        b.defect_prob AS second_defect_prob,
        b.response_status = 'success' AS second_success
    FROM turns AS a
    JOIN turns AS b
      ON b.session_id = a.session_id
     AND b.turn_index BETWEEN a.turn_index + 1 AND a.turn_index + $max_turn_distance
    WHERE date_diff('millisecond', a.ts, b.ts) <= $max_gap_s * 1000
),
featured AS (
    SELECT *, (domain_changed OR intent_changed OR slots_changed) AS interpretation_changed
    FROM pairs
)
SELECT
    *,
    1.0 / (1.0 + exp(-(
        $intercept
        + $token_jaccard * token_jaccard
        + $edit_similarity * edit_similarity
        + $phonetic_similarity * phonetic_similarity
        + $first_defect_prob * first_defect_prob
        + $second_success * (1.0 - second_defect_prob)
        + $interpretation_changed * coalesce(interpretation_changed, false)::INTEGER
        + $time_gap_s * time_gap_s
        + $extra_turn_distance * (turn_distance - 1)
    ))) AS heuristic_score
FROM featured
