-- The rephrase candidates of the days $days (a DATE[]) that the ranker's weak labels are drawn from: who said
-- the first turn, both texts as logged (normalised by the caller), both turns' defect probabilities and the
-- pair's rephrase score.
SELECT day, user_id, first_text, second_text, first_defect_prob, second_defect_prob, score
FROM signals.rephrase_candidates
WHERE list_contains($days::DATE[], day)
ORDER BY day, session_id, first_event_id, second_event_id;
