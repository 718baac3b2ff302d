-- name: insert_token :exec
INSERT INTO api_tokens (token_hash, label, role, org_path, person_id, expires_at, keyed)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: tokens_by_hash :many
-- The lookup is by the hash itself (an index probe), so no timing leaks the token. Two
-- candidates: the keyed hash and, for tokens stored before the server had a key, the plain one.
SELECT token_hash, keyed, label, role, org_path, person_id, expires_at, revoked_at
FROM api_tokens WHERE token_hash = ANY($1::bytea[]);

-- name: list_tokens :many
SELECT id, label, role, org_path, person_id, created_at, expires_at, revoked_at, keyed
FROM api_tokens
WHERE $1::text IS NULL OR org_path = $1 OR org_path LIKE $1 || '.%'
ORDER BY id DESC;

-- name: revoke_token :one
-- changed is false when the token was revoked already (its first revocation time is kept).
UPDATE api_tokens t SET revoked_at = COALESCE(t.revoked_at, $2)
FROM (SELECT id, revoked_at AS before FROM api_tokens WHERE id = $1 FOR UPDATE) b
WHERE t.id = b.id
RETURNING (b.before IS NULL) AS changed;
