-- name: known_receipts :many
SELECT receipt_id FROM page_receipts WHERE receipt_id = ANY($1::uuid[]);

-- name: pages_by_id :many
SELECT id, incident_id, person_id FROM pages WHERE id = ANY($1::bigint[]);

-- name: insert_receipt :exec
INSERT INTO page_receipts (receipt_id, page_id, incident_id, channel, attempt, ok, detail, at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8);

-- name: receipts_of :many
SELECT receipt_id, page_id, channel::text AS channel, attempt, ok, detail, at
FROM page_receipts WHERE incident_id = $1 ORDER BY at, page_id, attempt;

-- name: delivery_states :many
-- Everything each page's next try depends on, in one round trip for a fetched batch: the
-- page's incident, the person's contact methods, the page's receipts and dead letters.
SELECT p.id AS page_id, p.incident_id,
       (SELECT coalesce(json_agg(json_build_object('id', c.id, 'kind', c.kind, 'address', c.address,
                                                   'priority', c.priority)), '[]')
        FROM contact_methods c WHERE c.person_id = p.person_id)::text AS methods,
       (SELECT coalesce(json_agg(json_build_object('channel', r.channel, 'attempt', r.attempt,
                                                   'ok', r.ok, 'detail', r.detail)), '[]')
        FROM page_receipts r WHERE r.page_id = p.id)::text AS receipts,
       (SELECT coalesce(json_agg(json_build_object('contact_id', d.contact_id,
                                                   'last_attempt', d.last_attempt)), '[]')
        FROM dead_letters d WHERE d.page_id = p.id)::text AS dead
FROM pages p WHERE p.id = ANY($1::bigint[]);

-- name: insert_dead_letter :exec
INSERT INTO dead_letters (page_id, contact_id, incident_id, person_id, channel, first_attempt,
                          last_attempt, reason, notification, at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10)
ON CONFLICT (page_id, contact_id) DO NOTHING;

-- name: list_dead_letters :many
SELECT page_id, contact_id, incident_id, person_id, channel::text AS channel, first_attempt,
       last_attempt, reason, notification::text AS notification, at
FROM dead_letters
WHERE ($1::timestamptz IS NULL OR at >= $1) AND ($2::bigint IS NULL OR incident_id = $2)
ORDER BY at DESC, page_id DESC, contact_id
LIMIT $3;
