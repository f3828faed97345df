-- The self-aware verdicts of $day on the online layers' rewrites (empty when none were judged).
SELECT * EXCLUDE (day) FROM online.rewrite_verdicts WHERE day = $day ORDER BY rewrite_id;
