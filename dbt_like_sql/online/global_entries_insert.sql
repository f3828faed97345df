-- Replace-insert of $day's global entries from the registered frame _online_global (entries.GLOBAL_COLUMNS).
INSERT INTO online.global_entries
SELECT $day, text, users, turns, success_rate, intent, slots, from_markov, candidate FROM _online_global;
