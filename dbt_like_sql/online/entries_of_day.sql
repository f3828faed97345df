-- $day's entries of one layer ({{ layer_table }}: global_entries or personal_entries), without the day column.
SELECT * EXCLUDE (day) FROM online.{{ layer_table }} WHERE day = $day ORDER BY ALL;
