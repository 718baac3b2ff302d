-- name: entries_of :many
SELECT incident_id, seq, kind::text AS kind, at, actor, source, body, personal_digest,
       prev_hash, hash
FROM timeline_entries WHERE incident_id = $1 ORDER BY seq;

-- name: incident_heads :many
-- Every incident with its recorded chain head, for `dutywatch verify`.
SELECT id, timeline_seq, timeline_head FROM incidents ORDER BY id;
