-- A declared pseudonym key rotation (`selflearn rotate-key`): old → new, when, and what it means for counts.
INSERT INTO ingest.key_rotations (old_fingerprint, new_fingerprint, declared_at, meaning)
VALUES ($old_fingerprint, $new_fingerprint, timezone('UTC', now()), $meaning);
