-- Insert of $day's rows of teaching.moments from the registered frame _teaching_moments (its columns but day).
INSERT INTO teaching.moments BY NAME SELECT $day::DATE AS day, * FROM _teaching_moments;
