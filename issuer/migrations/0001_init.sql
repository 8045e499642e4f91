-- Credentials the province issued: the signed bytes, and their status for revocation.
CREATE TABLE credentials (
    id BYTES_TYPE PRIMARY KEY,
    province TEXT NOT NULL,
    kind TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    cose BYTES_TYPE NOT NULL,
    status TEXT NOT NULL DEFAULT 'valid',
    status_reason TEXT,
    status_changed_at BIGINT
);

-- Append-only audit log; each entry's hash covers the previous entry's hash.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash BYTES_TYPE NOT NULL,
    hash BYTES_TYPE NOT NULL
);
