-- Insert the per-label quality (registered as _release_quality) as day $day.
INSERT INTO releases.release_quality BY NAME
SELECT $day::DATE AS day, * FROM _release_quality;
