-- Replace-insert of $day's self-aware verdicts from the registered frame _online_verdicts (self_aware.VERDICT_COLUMNS).
INSERT INTO online.rewrite_verdicts BY NAME
SELECT $day AS day, * FROM _online_verdicts;
