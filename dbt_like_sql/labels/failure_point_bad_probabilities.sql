-- Rows of the day's failure points whose class probabilities do not sum to 1.
SELECT count(*) AS bad_probabilities
FROM labels.failure_points
WHERE day = $day
  AND abs(p_false_wake + p_asr + p_nlu + p_er + p_result + p_correct - 1) > 1e-4;
