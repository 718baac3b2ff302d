-- Tokens hashed under the server's key (HMAC-SHA256 with DUTYWATCH_TOKEN_KEY, issue 7).
-- Existing rows were stored as plain SHA-256 and keep working until revoked.
ALTER TABLE api_tokens ADD COLUMN keyed boolean NOT NULL DEFAULT false;
