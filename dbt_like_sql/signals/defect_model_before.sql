-- The defect model in force before `day`: the latest fitted row of an earlier day.
SELECT day, weights
FROM signals.defect_model
WHERE day < $day
ORDER BY day DESC
LIMIT 1
