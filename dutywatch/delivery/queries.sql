-- name: known_receipts :many
SELECT receipt_id FROM page_receipts WHERE receipt_id = ANY($1::uuid[]);

-- name: pages_by_id :many
SELECT id, incident_id, person_id FROM pages WHERE id = ANY($1::bigint[]);

-- name: insert_receipt :exec
INSERT INTO page_receipts (receipt_id, page_id, incident_id, channel, attempt, ok, detail, at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8);

-- name: receipts_of :many
SELECT receipt_id, page_id, channel::text AS channel, attempt, ok, detail, at
FROM page_receipts WHERE incident_id = $1 ORDER BY at, page_id, attempt;
