INSERT INTO releases.release_builds
VALUES ($day::DATE, $params::JSON, $audit_source, $audit_days::DATE[], $audit_turns, $clean_turns,
        $turns_without_labels, $turns_without_failure_point, $previous_release, timezone('UTC', now()));
