-- name: insert_token :exec
INSERT INTO api_tokens (token_hash, label, role, org_path, person_id, expires_at)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: token_by_hash :one
-- The lookup is by the hash itself (an index probe), so no timing leaks the token.
SELECT label, role, org_path, person_id, expires_at, revoked_at
FROM api_tokens WHERE token_hash = $1;
