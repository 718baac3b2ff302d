-- The duty console's board: the unresolved incidents of a subtree and, for each, who was
-- paged, the next escalation and the next reporting deadline. Read-only; every query takes
-- the incidents' ids as one array so a board is five queries whatever its length.

-- name: board_incidents :many
-- Unresolved incidents received by, or forwarded to, an office of the subtree ($1 NULL: all).
SELECT * FROM incidents
WHERE state <> 'resolved'
  AND ($1::text IS NULL OR org_path = $1 OR org_path LIKE $1 || '.%'
       OR responsible_org = $1 OR responsible_org LIKE $1 || '.%')
ORDER BY opened_at DESC, id DESC
LIMIT $2;

-- name: board_escalations :many
-- Each incident's escalation step due soonest (nothing once every alert is acknowledged).
SELECT DISTINCT ON (t.incident_id) t.incident_id, a.org_path, t.step, t.due_at
FROM timers t JOIN alerts a ON a.id = t.alert_id
WHERE t.incident_id = ANY($1::bigint[]) AND t.kind = 'escalation'
  AND t.fired_at IS NULL AND t.cancelled_at IS NULL
ORDER BY t.incident_id, t.due_at, t.id;

-- name: board_deadlines :many
-- Each incident's running reporting clock due soonest, run out (迟报) or not.
SELECT DISTINCT ON (incident_id) incident_id, target_org, kind, due_at, missed_at
FROM report_clocks
WHERE incident_id = ANY($1::bigint[]) AND stopped_at IS NULL
ORDER BY incident_id, due_at, target_org, kind;

-- name: board_pages :many
-- The people paged for each incident, each with their latest page.
SELECT DISTINCT ON (p.incident_id, p.person_id)
       p.incident_id, p.person_id, pe.name, p.org_path, p.reason, p.created_at
FROM pages p LEFT JOIN people pe ON pe.id = p.person_id
WHERE p.incident_id = ANY($1::bigint[])
ORDER BY p.incident_id, p.person_id, p.created_at DESC, p.id DESC;
