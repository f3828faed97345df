-- One JSON object per row of a Parquet file (registered as parquet_rows), so that it meets the contract of a
-- JSON line.
SELECT to_json(r)::VARCHAR AS text
FROM parquet_rows AS r;
