-- The stored vector of each wanted text (registered as _wanted) found in the embedding store's Parquet shards
-- ($shards); a text stored twice (two shards) gives one of its vectors.
SELECT s.text, any_value(s.vector) AS vector
FROM read_parquet($shards) AS s
JOIN _wanted USING (text)
GROUP BY s.text;
