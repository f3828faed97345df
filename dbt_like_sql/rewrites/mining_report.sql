-- The mining report of the markov_rewrites partition of $day (no row: none written).
SELECT window_start, days_with_data, deployed_from, report
FROM rewrites.mining_reports
WHERE day = $day;
