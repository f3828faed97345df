-- The online layers' rewrites the runtime applied on the days $days (a DATE[]), as the logs carry them
-- (`rewrite_applied`); table rewrites are judged by the rewrite miner (lib/markov/self_aware.py).
SELECT rewrite_applied.rewrite_id AS rewrite_id, rewrite_applied.source_text AS source_text,
       rewrite_applied.rewrite_text AS rewrite_text, rewrite_applied.layer AS layer
FROM ingest.clean_turns
WHERE list_contains($days::DATE[], day)
  AND rewrite_applied IS NOT NULL
  AND rewrite_applied.layer IN ('global', 'personal');
