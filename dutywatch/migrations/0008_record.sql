-- The rest of the record a review reads (issue 5): notes with attachments' metadata,
-- corrections, leaders' instructions, statutory clocks met, and pages' delivery receipts.
ALTER TYPE timeline_kind ADD VALUE 'correction';     -- a new entry correcting an earlier one (nothing is edited in place)
ALTER TYPE timeline_kind ADD VALUE 'instruction';    -- 批示: a leader's instruction on the incident
ALTER TYPE timeline_kind ADD VALUE 'deadline_met';   -- a statutory reporting clock stopped in time
ALTER TYPE timeline_kind ADD VALUE 'page_delivered'; -- a channel confirmed a page reached its person
ALTER TYPE timeline_kind ADD VALUE 'page_failed';    -- a channel could not deliver a page (and why)

-- One row per delivery attempt a channel reported; receipt_id makes a repeated receipt a no-op.
-- A page is delivered once any of its receipts is ok; failed while it has only failures.
CREATE TABLE page_receipts (
    receipt_id  uuid PRIMARY KEY,
    page_id     bigint NOT NULL REFERENCES pages (id),
    incident_id bigint NOT NULL REFERENCES incidents (id),
    channel     contact_kind NOT NULL,
    attempt     integer NOT NULL CHECK (attempt >= 1),
    ok          boolean NOT NULL,
    detail      text,
    at          timestamptz NOT NULL
);
CREATE INDEX page_receipts_page ON page_receipts (page_id);
CREATE INDEX page_receipts_incident ON page_receipts (incident_id);
