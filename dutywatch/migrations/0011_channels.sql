-- Outbound channels (issue 6): a contact method that failed every try for a page is a dead
-- letter, kept for the duty office to act on (docs/OPERATIONS.md "Dead letters"); the page
-- itself goes on to the person's next contact method. Each try is a page_receipts row and a
-- page_failed / page_delivered entry on the timeline (0008), so this table adds only the
-- verdict "this method gave up", and what an operator needs to resend or fix it.
CREATE TABLE dead_letters (
    page_id      bigint NOT NULL REFERENCES pages (id),
    -- No foreign key: the contact method may be edited or deleted afterwards; the letter stays.
    contact_id   bigint NOT NULL,
    incident_id  bigint NOT NULL REFERENCES incidents (id),
    person_id    text NOT NULL,
    channel      contact_kind NOT NULL,
    -- The receipts' attempt numbers this method used (first_attempt .. last_attempt).
    first_attempt integer NOT NULL CHECK (first_attempt >= 1),
    last_attempt  integer NOT NULL CHECK (last_attempt >= first_attempt),
    reason       text,
    -- The notification as published, so it can be resent by hand.
    notification jsonb NOT NULL,
    at           timestamptz NOT NULL,
    PRIMARY KEY (page_id, contact_id)
);
CREATE INDEX dead_letters_at ON dead_letters (at DESC);
