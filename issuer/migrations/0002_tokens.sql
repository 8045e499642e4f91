-- API tokens: only a SHA-256 of the secret is stored.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    secret_hash BYTES_TYPE NOT NULL,
    role TEXT NOT NULL,
    province TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
