-- name: entries_of :many
SELECT incident_id, seq, kind::text AS kind, at, actor, source, body, personal_digest,
       prev_hash, hash
FROM timeline_entries WHERE incident_id = $1 ORDER BY seq;

-- name: incident_heads :many
-- Every incident with its recorded chain head, for `dutywatch verify`.
SELECT id, timeline_seq, timeline_head FROM incidents ORDER BY id;

-- name: orphan_entries :many
-- Incidents with timeline entries but no incident row (the row deleted behind our back).
SELECT DISTINCT e.incident_id
FROM timeline_entries e LEFT JOIN incidents i ON i.id = e.incident_id
WHERE i.id IS NULL ORDER BY e.incident_id;

-- name: can_read_personal :val
-- The review role may not read personal data; verify then skips checking it.
SELECT has_table_privilege(current_user, 'personal_data', 'SELECT');

-- name: personal_of :many
SELECT seq, salt, data FROM personal_data WHERE incident_id = $1 ORDER BY seq;

-- name: lock_anchoring :exec
-- One replica anchors at a time; the day's primary key backs this up.
SELECT pg_advisory_xact_lock(hashtext('dutywatch.timeline_anchors'));

-- name: anchors :many
SELECT day, heads, digest, prev_hash, hash FROM timeline_anchors ORDER BY day;

-- name: last_anchor :one
SELECT day, heads, digest, prev_hash, hash FROM timeline_anchors ORDER BY day DESC LIMIT 1;

-- name: first_entry_at :val
SELECT min(at) FROM timeline_entries;

-- name: heads_between :many
-- The last entry of every incident with entries in [$1, $2): one UTC day's heads.
SELECT DISTINCT ON (incident_id) incident_id, seq, hash
FROM timeline_entries WHERE at >= $1 AND at < $2
ORDER BY incident_id, seq DESC;

-- name: heads_by_day :many
-- Per incident and UTC day in [$1, $2): the last entry dated that day, as it is now.
SELECT DISTINCT ON (incident_id, day) incident_id, (at AT TIME ZONE 'UTC')::date AS day, seq, hash
FROM timeline_entries WHERE at >= $1 AND at < $2
ORDER BY incident_id, day, seq DESC;

-- name: hashes_at :many
-- The hashes the (incident, seq) pairs have now, for those that still exist.
SELECT e.incident_id, e.seq, e.hash
FROM timeline_entries e
JOIN unnest($1::bigint[], $2::integer[]) AS k (incident_id, seq)
  ON e.incident_id = k.incident_id AND e.seq = k.seq;

-- name: incidents_with_entries :many
SELECT DISTINCT incident_id FROM timeline_entries WHERE incident_id = ANY($1::bigint[]);

-- name: insert_anchor :exec
INSERT INTO timeline_anchors (day, heads, digest, prev_hash, hash, created_at)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: delete_personal :many
-- Art. 85: the personal data of an incident and the salts of their digests.
DELETE FROM personal_data WHERE incident_id = $1 RETURNING seq;

-- name: strip_report_payloads :val
-- The personal fields of every stored report of the incident (see reports_purge_only).
WITH stripped AS (
    UPDATE reports SET payload = payload - ARRAY['reporter', 'commander', 'leaders_on_scene']
    WHERE incident_id = $1 AND payload ?| ARRAY['reporter', 'commander', 'leaders_on_scene']
    RETURNING 1
)
SELECT count(*) FROM stripped;

-- name: report_ids_of :many
SELECT report_id::text AS report_id FROM reports WHERE incident_id = $1;

-- name: rejections_naming :many
-- Refused messages that may be reports of the incident: by message id (a report id of it),
-- or mentioning its incident_ref; the caller decides from their content.
SELECT id, msg_id, raw FROM rejections
WHERE msg_id = ANY($1::text[]) OR position(convert_to($2, 'UTF8') IN raw) > 0
ORDER BY id;

-- name: scrub_rejection :exec
UPDATE rejections SET raw = $2 WHERE id = $1;

-- name: rejection_messages :many
-- The outbox copies (dutywatch.rejected) of these rejections, published or not.
SELECT id, payload FROM outbox
WHERE subject = $1
  AND (convert_from(payload, 'UTF8')::jsonb ->> 'rejection_id')::bigint = ANY($2::bigint[]);

-- name: rewrite_outbox :exec
UPDATE outbox SET payload = $2 WHERE id = $1;

-- name: last_entry_of_kind :one
SELECT at, actor, body FROM timeline_entries
WHERE incident_id = $1 AND kind = $2::timeline_kind ORDER BY seq DESC LIMIT 1;

-- name: hold_of :one
SELECT reason, held_by, held_at FROM retention_holds WHERE incident_id = $1;

-- name: insert_hold :exec
INSERT INTO retention_holds (incident_id, reason, held_by, held_at) VALUES ($1, $2, $3, $4);

-- name: delete_hold :exec
DELETE FROM retention_holds WHERE incident_id = $1;

-- name: retention_due :many
-- Resolved incidents past the rule for their grade ($1 grades, $2 days), not held, that
-- still hold personal data.
SELECT i.id, i.grade, r.days
FROM incidents i
JOIN unnest($1::text[], $2::integer[]) AS r (grade, days) ON r.grade = i.grade
WHERE i.state = 'resolved'
  AND i.resolved_at + make_interval(days => r.days) <= $3
  AND NOT EXISTS (SELECT 1 FROM retention_holds h WHERE h.incident_id = i.id)
  AND (EXISTS (SELECT 1 FROM personal_data p WHERE p.incident_id = i.id)
       OR EXISTS (SELECT 1 FROM reports t WHERE t.incident_id = i.id
                  AND t.payload ?| ARRAY['reporter', 'commander', 'leaders_on_scene']))
ORDER BY i.resolved_at, i.id
LIMIT $4;
