-- Rows of the review figures (issue 5): one query per table, for every incident of a
-- subtree opened in a period; the pure dutywatch.review.figures computes from them.

-- name: incidents_opened :many
-- $1 the subtree's root, $2 from, $3 to ([from, to) by opened_at), $4 include drills/tests
SELECT id, org_path, title, grade, category, status, opened_at, learned_at, resolved_at
  FROM incidents
 WHERE (org_path = $1 OR starts_with(org_path, $1 || '.'))
   AND opened_at >= $2 AND opened_at < $3
   AND ($4 OR status = 'actual')
 ORDER BY id;

-- name: alerts_of :many
SELECT incident_id, org_path, acknowledged_at
  FROM alerts
 WHERE incident_id = ANY($1::bigint[]);

-- name: clocks_of :many
SELECT incident_id, target_org, kind, due_at, stopped_at
  FROM report_clocks
 WHERE incident_id = ANY($1::bigint[]);

-- name: review_entries_of :many
-- Overdue follow-up and final reports (report_late of those stages) and omitted items.
SELECT incident_id, kind::text AS kind, body
  FROM timeline_entries
 WHERE incident_id = ANY($1::bigint[])
   AND (kind = 'fields_omitted'
        OR (kind = 'report_late' AND body ->> 'kind' IN ('follow_up', 'final')));

-- name: report_stages_of :many
SELECT incident_id, stage
  FROM reports
 WHERE incident_id = ANY($1::bigint[]);

-- name: receipts_of :many
SELECT incident_id, page_id, channel::text AS channel, ok, at, attempt
  FROM page_receipts
 WHERE incident_id = ANY($1::bigint[]);

-- name: org_zone :val
SELECT tz FROM orgs WHERE path = $1;
