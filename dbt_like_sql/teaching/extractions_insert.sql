-- Insert of $day's rows of teaching.extractions from the registered frame _teaching_extractions (its columns but day).
INSERT INTO teaching.extractions BY NAME SELECT $day::DATE AS day, * FROM _teaching_extractions;
