-- $day's rows of teaching.{{ teaching_table }}, without the day column (empty when none were written).
SELECT * EXCLUDE (day) FROM teaching.{{ teaching_table }} WHERE day = $day;
