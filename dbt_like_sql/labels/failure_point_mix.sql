-- Failure-point mix of a day by a grouping column of clean_turns ($by is 'domain' or 'device'): turns per
-- (group, failure point), for the daily summary an engineer reads to decide which component to fix.
SELECT
    CASE WHEN $by = 'domain' THEN coalesce(t.nlu_domain, '(unhandled)') ELSE coalesce(t.device_type, '(unknown)') END
        AS grp,
    f.failure_point,
    count(*) AS turns
FROM labels.failure_points AS f
JOIN ingest.clean_turns AS t ON t.day = f.day AND t.event_id = f.event_id
WHERE f.day = $day
GROUP BY ALL
ORDER BY grp, f.failure_point;
