-- One row per dialogue session of the day, from the day's ingest.clean_turns (runs in a transaction).
-- A session that crosses UTC midnight has a row in each day, counting that day's turns; its user,
-- device and device type are those of its first turn (ties on ts broken by event_id).
DELETE FROM ingest.sessions WHERE day = $day;

INSERT INTO ingest.sessions BY NAME
SELECT
    $day AS day,
    session_id,
    arg_min(user_id, (ts, event_id)) AS user_id,
    arg_min(device_id, (ts, event_id)) AS device_id,
    arg_min(device_type, (ts, event_id)) AS device_type,
    min(ts) AS start_ts,
    max(ts) AS end_ts,
    count(*) AS n_turns,
    count(*) FILTER (WHERE barge_in) AS n_barge_in,
    count(*) FILTER (WHERE response_status IN ('error', 'unsupported', 'no_response')) AS n_error,
    count(*) FILTER (WHERE response_status = 'clarify') AS n_clarify,
    count(*) FILTER (WHERE explicit_feedback = 'negative') AS n_explicit_negative,
    count(*) FILTER (WHERE explicit_feedback = 'positive') AS n_explicit_positive,
    count(*) FILTER (WHERE rewrite_applied IS NOT NULL) AS n_rewritten,
    epoch(max(ts) - min(ts)) AS duration_s
FROM ingest.clean_turns
WHERE day = $day
GROUP BY session_id;
