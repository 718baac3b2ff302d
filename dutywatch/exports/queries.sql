-- name: personal_data_of :many
-- The personal data still stored for an incident's entries (purged rows are gone or empty).
SELECT seq, salt, data FROM personal_data WHERE incident_id = $1 ORDER BY seq;

-- name: entry_hash_at :one
-- The hash the record holds at one position of an incident's chain, and the chain's length.
SELECT (SELECT hash FROM timeline_entries WHERE incident_id = $1 AND seq = $2) AS hash,
       i.timeline_seq, i.timeline_head
FROM incidents i WHERE i.id = $1;
