-- name: insert_entries :exec
INSERT INTO timeline_entries
    (incident_id, seq, kind, at, actor, source, body, personal_digest, prev_hash, hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);

-- name: insert_personal :exec
INSERT INTO personal_data (incident_id, seq, salt, data) VALUES ($1, $2, $3, $4);

-- name: entries_of :many
SELECT incident_id, seq, kind::text AS kind, at, actor, source, body, personal_digest,
       prev_hash, hash
FROM timeline_entries WHERE incident_id = $1 ORDER BY seq;

-- name: incident_heads :many
-- Every incident with its recorded chain head, for `dutywatch verify`.
SELECT id, timeline_seq, timeline_head FROM incidents ORDER BY id;
