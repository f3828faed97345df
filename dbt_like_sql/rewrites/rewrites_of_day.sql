-- The rewrite table of one day, without its partition column.
SELECT * EXCLUDE (day)
FROM rewrites.markov_rewrites
WHERE day = $day;
