-- The latest $window_days days with clean turns, newest first (the models' training window).
SELECT DISTINCT day
FROM ingest.clean_turns
ORDER BY day DESC
LIMIT $window_days;
