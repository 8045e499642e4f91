-- One-time claim links: a wallet redeems a credential once, before the link expires. Only a hash of the link's
-- secret is stored.
CREATE TABLE claim_links (
    secret_hash BYTES_TYPE PRIMARY KEY,
    credential_id BYTES_TYPE NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    redeemed_at BIGINT
);
