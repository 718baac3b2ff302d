-- name: claim_due_timers :many
-- Any number of replicas run this; SKIP LOCKED hands each due timer to exactly one.
SELECT id, kind, incident_id, handover_id, step, due_at
FROM timers
WHERE due_at <= $1 AND fired_at IS NULL AND cancelled_at IS NULL
ORDER BY due_at
LIMIT $2
FOR UPDATE SKIP LOCKED;

-- name: next_due_at :val
SELECT min(due_at) FROM timers WHERE fired_at IS NULL AND cancelled_at IS NULL;

-- name: lock_incident_nowait :one
-- The scheduler skips an incident another transaction holds (an acknowledgement in
-- flight): waiting here while that transaction waits for our timer row would deadlock.
SELECT * FROM incidents WHERE id = $1 FOR UPDATE SKIP LOCKED;
