-- Idempotency keys: the same key from the same token returns the credential issued the first time.
CREATE TABLE idempotency_keys (
    token_id TEXT NOT NULL,
    key TEXT NOT NULL,
    credential_id BYTES_TYPE NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (token_id, key)
);
