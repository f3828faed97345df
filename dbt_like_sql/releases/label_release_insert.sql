-- Insert the release frame (registered as _label_release) as day $day.
INSERT INTO releases.label_release BY NAME
SELECT $day::DATE AS day, * FROM _label_release;
