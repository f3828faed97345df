-- Turns per failure point of a labelled day (failure_points' metadata: the day's shares).
SELECT failure_point, count(*) AS turns
FROM labels.failure_points
WHERE day = $day
GROUP BY failure_point
ORDER BY failure_point;
