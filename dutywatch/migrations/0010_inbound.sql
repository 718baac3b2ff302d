-- Inbound formats (issue 6): CAP 1.2 messages taken in, PagerDuty routing keys.

-- Every CAP message translated into a report, by its identity (sender + identifier, per office):
-- an Update or Cancel finds the incident of the messages it references here, even while the
-- report of the earlier message is still on its way through intake. Written before the report
-- is published; a resend finds its own row (the translation is deterministic).
CREATE TABLE cap_messages (
    org_path     text NOT NULL REFERENCES orgs (path),
    sender       text NOT NULL,
    identifier   text NOT NULL,
    sent         timestamptz NOT NULL,
    msg_type     text NOT NULL CHECK (msg_type IN ('Alert', 'Update', 'Cancel')),
    incident_ref text NOT NULL,
    report_id    uuid NOT NULL,
    received_at  timestamptz NOT NULL,
    PRIMARY KEY (org_path, sender, identifier)
);

-- PagerDuty Events API v2 routing keys: the key authenticates the caller and says which
-- organisation, grade and category its events report as. Stored hashed, like API tokens.
CREATE TABLE routing_keys (
    id          bigserial PRIMARY KEY,
    key_hash    bytea NOT NULL UNIQUE,
    label       text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    org_path    text NOT NULL REFERENCES orgs (path),
    grade       text NOT NULL CHECK (grade IN ('I', 'II', 'III', 'IV')),
    category    text NOT NULL CHECK (category IN
                    ('natural_disaster', 'accident', 'public_health', 'social_safety')),
    created_at  timestamptz NOT NULL,
    created_by  text NOT NULL,
    revoked_at  timestamptz
);
