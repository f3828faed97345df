-- Transition rows and counts of the day, by kind of destination.
SELECT
    count(*) AS rows,
    coalesce(sum(n_transitions), 0) AS transitions,
    coalesce(sum(n_transitions) FILTER (WHERE dst = '__SUCCESS__'), 0) AS to_success,
    coalesce(sum(n_transitions) FILTER (WHERE dst = '__FAILURE__'), 0) AS to_failure,
    coalesce(sum(n_transitions) FILTER (WHERE dst NOT IN ('__SUCCESS__', '__FAILURE__')), 0) AS reformulations,
    coalesce(sum(n_transitions) FILTER (WHERE rewritten), 0) AS from_rewritten
FROM signals.markov_transitions
WHERE day = $day
