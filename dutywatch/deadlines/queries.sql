-- name: clocks_of :many
-- An incident's reporting clocks in the order they were opened (deadlines.rules.Clock).
SELECT id, target_org, kind, grade, rules, opened_at, due_at, stopped_at, missed_at
FROM report_clocks WHERE incident_id = $1 ORDER BY id;

-- name: latest_report :one
SELECT report_id, stage, received_at, payload::text AS payload
FROM reports WHERE incident_id = $1 ORDER BY received_at DESC, report_id DESC LIMIT 1;

-- name: report_of_incident :one
SELECT report_id, stage, received_at, payload::text AS payload
FROM reports WHERE incident_id = $1 AND report_id = $2;

-- name: insert_zero_report :one
-- The first zero report of a (room, day) counts; a repeat (or a replay) changes nothing.
INSERT INTO zero_reports (org_path, day, received_at, report_id, actor)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING
RETURNING received_at;

-- name: zero_report :one
SELECT org_path, day, received_at, report_id, actor FROM zero_reports
WHERE org_path = $1 AND day = $2;

-- name: zero_reports_of_day :many
SELECT org_path, day, received_at FROM zero_reports
WHERE day = $1 AND org_path = ANY($2::text[]);

-- name: child_orgs :many
SELECT path FROM orgs WHERE parent_path = $1 ORDER BY path;

-- name: parent_orgs :many
-- Every duty room with subordinate rooms: each owes a daily zero-report check.
SELECT DISTINCT parent_path AS path FROM orgs WHERE parent_path IS NOT NULL ORDER BY 1;

-- name: arm_zero_report_timer :exec
-- One pending zero-report timer per parent room, however many replicas arm it.
INSERT INTO timers (org_path, kind, step, due_at, created_at)
VALUES ($1, 'zero_report', 0, $2, $3)
ON CONFLICT (org_path) WHERE kind = 'zero_report' AND fired_at IS NULL AND cancelled_at IS NULL
DO NOTHING;

-- name: report_history :many
-- When each report of an incident arrived, and its stage (follow-up and final reports).
SELECT stage, received_at FROM reports WHERE incident_id = $1 ORDER BY received_at, report_id;
