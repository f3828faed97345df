-- How the release of $day was built (no row: it was not).
SELECT *
FROM releases.release_builds
WHERE day = $day;
