-- name: insert_instruction :val
INSERT INTO supervision_instructions (incident_id, org_path, text, leader, given_at, actor)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING id;

-- name: insert_assignment :val
INSERT INTO supervision_assignments
    (instruction_id, unit, responsible, supervisor, state, due_at, first_due_at, created_at,
     clock_started_at)
VALUES ($1, $2, $3, $4, 'assigned', $5, $5, $6, $6)
RETURNING id;

-- name: instruction_of_assignment :one
SELECT i.* FROM supervision_instructions i
JOIN supervision_assignments a ON a.instruction_id = i.id
WHERE a.id = $1;

-- name: lock_instruction :one
-- A standalone matter's instruction row holds its chain head: lock it before appending.
SELECT * FROM supervision_instructions WHERE id = $1 FOR UPDATE;

-- name: lock_instruction_nowait :one
-- The scheduler's lock: a matter a step holds (which may be waiting for this round's timer
-- rows) is skipped, its timer looked at again next round.
SELECT * FROM supervision_instructions WHERE id = $1 FOR UPDATE SKIP LOCKED;

-- name: get_instruction :one
SELECT * FROM supervision_instructions WHERE id = $1;

-- name: lock_assignment :one
SELECT * FROM supervision_assignments WHERE id = $1 FOR UPDATE;

-- name: assignments_of_instruction :many
SELECT * FROM supervision_assignments WHERE instruction_id = $1 ORDER BY id;

-- name: update_assignment :exec
UPDATE supervision_assignments
SET state = $2, due_at = $3, clock_started_at = $4, reminders = $5, reminded_at = $6,
    verified_at = $7, closed_at = $8, recheck_at = $9
WHERE id = $1;

-- name: insert_event :val
INSERT INTO supervision_events (assignment_id, action, from_state, to_state, at, actor, body)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
RETURNING id;

-- name: set_matter_head :exec
UPDATE supervision_instructions SET timeline_seq = $2, timeline_head = $3 WHERE id = $1;

-- name: insert_matter_entry :exec
INSERT INTO supervision_entries
    (instruction_id, seq, kind, at, actor, source, body, prev_hash, hash)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9);

-- name: matter_entries :many
SELECT instruction_id, seq, kind::text AS kind, at, actor, source, body::text AS body,
       prev_hash, hash
FROM supervision_entries WHERE instruction_id = $1 ORDER BY seq;

-- name: matter_heads :many
-- Every standalone matter with its recorded chain head, for `dutywatch verify`.
SELECT id, timeline_seq, timeline_head FROM supervision_instructions
WHERE incident_id IS NULL ORDER BY id;

-- name: cancel_timers :exec
UPDATE timers SET cancelled_at = $3
WHERE assignment_id = $1 AND kind = $2 AND fired_at IS NULL AND cancelled_at IS NULL;

-- name: insert_timer :exec
INSERT INTO timers (kind, step, due_at, created_at, assignment_id) VALUES ($1, $2, $3, $4, $5);

-- name: mark_fired :exec
UPDATE timers SET fired_at = $2 WHERE id = ANY($1::bigint[]);

-- name: timer_assignments :many
SELECT id, assignment_id FROM timers WHERE id = ANY($1::bigint[]);

-- name: insert_recheck :exec
INSERT INTO supervision_rechecks (assignment_id, due_at) VALUES ($1, $2);

-- name: pending_recheck :one
SELECT * FROM supervision_rechecks WHERE assignment_id = $1 AND answered_at IS NULL;

-- name: mark_recheck_asked :exec
UPDATE supervision_rechecks SET asked_at = $2 WHERE id = $1;

-- name: answer_recheck :exec
UPDATE supervision_rechecks
SET answered_at = $2, holds = $3, text = $4, attachments = $5::jsonb, answered_by = $6
WHERE id = $1;

-- name: open_of_units :many
-- A unit's open assignments (the unit and everything below it), earliest due first.
SELECT a.*, i.text AS instruction, i.incident_id, i.org_path AS assigned_by
FROM supervision_assignments a JOIN supervision_instructions i ON i.id = a.instruction_id
WHERE a.state <> 'closed' AND (a.unit = $1 OR starts_with(a.unit, $1 || '.'))
ORDER BY a.due_at, a.id;

-- name: chase_list :many
-- What a supervisor chases: their assignments not closed, earliest due first.
SELECT a.*, i.text AS instruction, i.incident_id, i.org_path AS assigned_by
FROM supervision_assignments a JOIN supervision_instructions i ON i.id = a.instruction_id
WHERE a.state <> 'closed' AND a.supervisor = $1
ORDER BY a.due_at, a.id;

-- name: figure_records :many
-- The assignments of units in the subtree $1 first due in [$2, $3), with the history the
-- figures need: whether it was verified, whether any feedback came late, re-checks.
SELECT a.unit, a.state, a.created_at, a.first_due_at, a.due_at, a.closed_at,
       EXISTS (SELECT 1 FROM supervision_events e
               WHERE e.assignment_id = a.id AND e.action = 'verify') AS verified,
       EXISTS (SELECT 1 FROM supervision_events e
               WHERE e.assignment_id = a.id AND e.action = 'report'
                 AND (e.body ->> 'overdue')::boolean) AS reported_late,
       (SELECT count(*) FROM supervision_rechecks r
        WHERE r.assignment_id = a.id AND r.answered_at IS NOT NULL) AS rechecks_answered,
       (SELECT count(*) FROM supervision_rechecks r
        WHERE r.assignment_id = a.id AND r.holds = false) AS rechecks_failed
FROM supervision_assignments a
WHERE (a.unit = $1 OR starts_with(a.unit, $1 || '.')) AND a.first_due_at >= $2 AND a.first_due_at < $3
ORDER BY a.id;

-- name: people_exist :many
SELECT id, org_path FROM people WHERE id = ANY($1::text[]);
