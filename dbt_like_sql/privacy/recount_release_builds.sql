-- After rows of a forgotten customer left releases.label_release on the days $days (DATE[]): the turn counts
-- of releases.release_builds follow (clean_turns is the release's row count, as when it was built).
UPDATE releases.release_builds AS b
SET clean_turns = n.release_rows,
    turns_without_labels = n.without_labels,
    turns_without_failure_point = n.without_failure_point
FROM (
    SELECT day, count(*) AS release_rows,
           count(*) FILTER (WHERE label_model_version IS NULL) AS without_labels,
           count(*) FILTER (WHERE failure_point_model_version IS NULL) AS without_failure_point
    FROM releases.label_release
    WHERE day IN (SELECT unnest($days::DATE[]))
    GROUP BY day
) AS n
WHERE b.day = n.day;
