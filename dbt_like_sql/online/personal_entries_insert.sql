-- Replace-insert of $day's personal entries from the registered frame _online_personal (entries.PERSONAL_COLUMNS).
INSERT INTO online.personal_entries
SELECT $day, user_id, text, uses, success_rate, last_day, intent, slots, candidate FROM _online_personal;
