-- name: claim_due_timers :many
-- Any number of replicas run this; SKIP LOCKED hands each due timer to exactly one.
SELECT id, kind, incident_id, handover_id, alert_id, org_path, step, due_at
FROM timers
WHERE due_at <= $1 AND fired_at IS NULL AND cancelled_at IS NULL
ORDER BY due_at
LIMIT $2
FOR UPDATE SKIP LOCKED;

-- name: next_due_at :val
SELECT min(due_at) FROM timers WHERE fired_at IS NULL AND cancelled_at IS NULL;

-- name: lock_incidents_nowait :many
-- The incidents of claimed timers, in id order; a busy one (an acknowledgement in flight)
-- is skipped and its timers are looked at again next round.
SELECT * FROM incidents WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE SKIP LOCKED;

-- name: current_policies :many
-- The policies in force for these organisations: the highest version of each id, unless
-- that version is retired.
SELECT * FROM (
    SELECT DISTINCT ON (id) id, version, org_path, grades, categories, steps::text AS steps,
           created_at, created_by, retired_at
    FROM escalation_policies
    WHERE org_path = ANY($1::text[])
    ORDER BY id, version DESC
) latest
WHERE retired_at IS NULL
ORDER BY org_path, id;

-- name: policy_version :one
SELECT id, version, org_path, grades, categories, steps::text AS steps, created_at,
       created_by, retired_at
FROM escalation_policies WHERE id = $1 AND version = $2;

-- name: policy_versions :many
SELECT id, version, org_path, grades, categories, steps::text AS steps, created_at,
       created_by, retired_at
FROM escalation_policies WHERE id = $1 ORDER BY version;

-- name: all_current_policies :many
SELECT * FROM (
    SELECT DISTINCT ON (id) id, version, org_path, grades, categories, steps::text AS steps,
           created_at, created_by, retired_at
    FROM escalation_policies
    WHERE ($1::text IS NULL OR org_path = $1 OR org_path LIKE $1 || '.%')
    ORDER BY id, version DESC
) latest
WHERE retired_at IS NULL
ORDER BY org_path, id;

-- name: lock_policy_id :exec
-- Serialises saving versions of one id (two saves must not both take version N+1).
SELECT pg_advisory_xact_lock(hashtextextended('escalation_policy:' || $1, 0));

-- name: next_policy_version :val
SELECT coalesce(max(version), 0) + 1 FROM escalation_policies WHERE id = $1;

-- name: insert_policy :exec
INSERT INTO escalation_policies
    (id, version, org_path, grades, categories, steps, created_at, created_by)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8);

-- name: retire_policy :many
UPDATE escalation_policies SET retired_at = $2
WHERE id = $1 AND retired_at IS NULL
RETURNING version;

-- name: alerts_of :many
SELECT * FROM alerts WHERE incident_id = ANY($1::bigint[]) ORDER BY incident_id, id;

-- name: landed_orgs :many
-- The duty rooms each alert of an incident paged (a page climbs past empty rosters).
SELECT DISTINCT alert_id, org_path FROM pages WHERE incident_id = $1 AND alert_id IS NOT NULL;

-- name: pending_escalations :many
SELECT t.alert_id, a.org_path, t.step, t.due_at
FROM timers t JOIN alerts a ON a.id = t.alert_id
WHERE t.incident_id = $1 AND t.kind = 'escalation'
  AND t.fired_at IS NULL AND t.cancelled_at IS NULL
ORDER BY t.due_at, t.id;

-- name: known_people :many
SELECT id FROM people WHERE id = ANY($1::text[]);

-- name: people_names :many
SELECT id, name FROM people WHERE id = ANY($1::text[]);
