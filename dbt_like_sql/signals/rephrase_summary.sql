-- Candidate pairs of the day and how many score as rephrases.
SELECT count(*) AS candidates, count(*) FILTER (WHERE score >= $threshold) AS rephrases
FROM signals.rephrase_candidates
WHERE day = $day
