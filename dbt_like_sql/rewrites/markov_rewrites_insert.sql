-- Insert the mined table (registered as _mined_rewrites) as day $day.
INSERT INTO rewrites.markov_rewrites BY NAME
SELECT $day::DATE AS day, rewrite_id, source_text, rewrite_text, source_success_prob, rewrite_success_prob,
       confidence, support_users, support_sessions, support_transitions, target_users, hops, origin,
       meaning_score, gold_turns, gold_right, "precision"
FROM _mined_rewrites;
