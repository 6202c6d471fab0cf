-- name: ClaimKey :execrows
-- Claims (scope, key) for this transaction. Zero rows means the key was
-- used before; a concurrent claim makes this wait until the other
-- transaction commits (zero rows) or rolls back (one row).
INSERT INTO idempotency_keys (scope, key, request_hash)
VALUES ($1, $2, $3)
ON CONFLICT (scope, key) DO NOTHING;

-- name: SetResponse :exec
UPDATE idempotency_keys
SET response = $3
WHERE scope = $1 AND key = $2;

-- name: GetKey :one
SELECT request_hash, response, created_at
FROM idempotency_keys
WHERE scope = $1 AND key = $2;

-- name: DeleteKeysBefore :execrows
DELETE FROM idempotency_keys
WHERE created_at < $1;
