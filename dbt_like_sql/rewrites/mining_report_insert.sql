INSERT INTO rewrites.mining_reports VALUES ($day, $window_start, $days_with_data, $deployed_from, $report);
