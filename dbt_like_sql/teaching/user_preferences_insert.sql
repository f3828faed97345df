-- Insert of $day's rows of teaching.user_preferences from the registered frame _teaching_user_preferences (its columns but day).
INSERT INTO teaching.user_preferences BY NAME SELECT $day::DATE AS day, * FROM _teaching_user_preferences;
