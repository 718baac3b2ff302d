-- name: cap_refs :many
-- The incident refs of CAP messages an Update or Cancel references, in this office.
SELECT sender, identifier, incident_ref FROM cap_messages
WHERE org_path = $1
  AND (sender, identifier) IN (SELECT * FROM unnest($2::text[], $3::text[]));

-- name: remember_cap :exec
INSERT INTO cap_messages
    (org_path, sender, identifier, sent, msg_type, incident_ref, report_id, received_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (org_path, sender, identifier) DO NOTHING;

-- name: incident_by_ref :one
SELECT * FROM incidents WHERE org_path = $1 AND incident_ref = $2;

-- name: latest_generation :one
-- The newest incident of a PagerDuty dedup_key or Alertmanager group: its first incident has
-- the ref itself, later ones (after it was resolved) `<family><n>:<key>`.
SELECT * FROM incidents
WHERE org_path = $1 AND (incident_ref = $2 OR incident_ref ~ $3)
ORDER BY id DESC
LIMIT 1;

-- name: incident_of_report :val
SELECT incident_id FROM reports WHERE report_id = $1;

-- name: insert_routing_key :val
INSERT INTO routing_keys (key_hash, label, org_path, grade, category, created_at, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id;

-- name: routing_key_by_hash :one
-- The lookup is by the hash itself (an index probe), so no timing leaks the key.
SELECT id, label, org_path, grade, category, revoked_at FROM routing_keys WHERE key_hash = $1;

-- name: list_routing_keys :many
SELECT id, label, org_path, grade, category, created_at, created_by, revoked_at
FROM routing_keys ORDER BY id;

-- name: revoke_routing_key :one
UPDATE routing_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1
RETURNING id, label, org_path, grade, category, created_at, created_by, revoked_at;
