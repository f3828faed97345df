-- The day's most frequent utterances among turns predicted to fail, with their main failure point.
SELECT
    lower(t.asr_text) AS utterance,
    count(*) AS failing_turns,
    mode(f.failure_point) AS main_failure_point,
    count(DISTINCT t.user_id) AS users,
    round(avg(f.failure_point_confidence), 3) AS mean_confidence
FROM labels.failure_points AS f
JOIN ingest.clean_turns AS t ON t.day = f.day AND t.event_id = f.event_id
WHERE f.day = $day AND f.failure_point <> 'correct' AND t.asr_text <> ''
GROUP BY 1
ORDER BY failing_turns DESC, users DESC, utterance
LIMIT $limit;
