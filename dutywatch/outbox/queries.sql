-- name: enqueue :exec
INSERT INTO outbox (subject, payload, created_at) VALUES ($1, $2, $3);

-- name: claim_pending :many
-- Oldest unpublished first; SKIP LOCKED lets several relays share the work.
SELECT id, subject, payload FROM outbox
WHERE published_at IS NULL
ORDER BY id
LIMIT $1
FOR UPDATE SKIP LOCKED;

-- name: mark_published :exec
UPDATE outbox SET published_at = $2 WHERE id = ANY($1::bigint[]);

-- name: pending_count :val
SELECT count(*) FROM outbox WHERE published_at IS NULL;

-- name: insert_rejection :val
INSERT INTO rejections (received_at, source, subject, msg_id, reason, message, field, raw)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id;
