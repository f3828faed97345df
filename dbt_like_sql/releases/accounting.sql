-- Does the release of $day account for every clean turn of the day, once, with its labels?
SELECT
    (SELECT count(*) FROM ingest.clean_turns WHERE day = $day) AS clean_turns,
    (SELECT count(*) FROM releases.label_release WHERE day = $day) AS release_rows,
    (SELECT count(DISTINCT event_id) FROM releases.label_release WHERE day = $day) AS distinct_event_ids,
    (SELECT count(*) FROM ingest.clean_turns t WHERE t.day = $day AND NOT EXISTS (
        SELECT 1 FROM releases.label_release r WHERE r.day = $day AND r.event_id = t.event_id)) AS turns_missing,
    (SELECT count(*) FROM releases.label_release r WHERE r.day = $day AND NOT EXISTS (
        SELECT 1 FROM ingest.clean_turns t WHERE t.day = $day AND t.event_id = r.event_id)) AS rows_without_turn,
    (SELECT count(*) FROM releases.label_release WHERE day = $day AND label_model_version IS NULL)
        AS turns_without_labels,
    (SELECT count(*) FROM releases.label_release WHERE day = $day AND failure_point_model_version IS NULL)
        AS turns_without_failure_point;
