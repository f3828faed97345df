-- The day's quarantined turn lines per reason, the most frequent first (of the day being built,
-- day_quarantined_turns).
SELECT reason, count(*) AS lines
FROM day_quarantined_turns
WHERE day = $day
GROUP BY reason
ORDER BY 2 DESC, 1;
