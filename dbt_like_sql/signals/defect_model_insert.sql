INSERT INTO signals.defect_model (day, fitted_on_days, weights, metrics, created_at)
VALUES ($day, $fitted_on_days::DATE[], $weights::JSON, $metrics::JSON, timezone('UTC', now()))
