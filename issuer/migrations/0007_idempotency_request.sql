-- The SHA-256 of the request an idempotency key was first used with (see `service::request_digest`): a replay
-- with another request is refused instead of being answered with the first request's credential. Keys stored
-- before this have none; their replays are compared with the stored credential itself.
ALTER TABLE idempotency_keys ADD COLUMN request_sha256 BYTES_TYPE
