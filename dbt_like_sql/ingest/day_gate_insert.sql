-- The outcome of one blocking ingestion gate on one day, replacing its previous one (lib/ingest/gates.py).
INSERT OR REPLACE INTO ingest.day_gates (day, check_name, passed, description, checked_at)
VALUES ($day, $check_name, $passed, $description, timezone('UTC', now()));
