-- The days whose signals.markov_transitions count a forgotten customer among their users (input:
-- getvariable('forget_pseudonyms'), VARCHAR[]): forget-user counts those days again without them.
SELECT DISTINCT day
FROM signals.markov_transitions
WHERE list_has_any(users, getvariable('forget_pseudonyms')::VARCHAR[])
ORDER BY day;
