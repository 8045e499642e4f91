-- Status references: each credential's place in a status list (list id, index), unique; indices are handed out
-- at random inside blocks that each node reserves, so nodes never collide and no index is used twice.
ALTER TABLE credentials ADD COLUMN status_list BIGINT;
ALTER TABLE credentials ADD COLUMN status_index BIGINT;
CREATE UNIQUE INDEX credentials_status_ref ON credentials (status_list, status_index);
CREATE TABLE status_blocks (
    list_id BIGINT NOT NULL,
    block BIGINT NOT NULL,
    node TEXT NOT NULL,
    reserved_at BIGINT NOT NULL,
    PRIMARY KEY (list_id, block)
);
-- Every published version of every list, signed as served (deltas are computed from them).
CREATE TABLE status_publications (
    list_id BIGINT NOT NULL,
    version BIGINT NOT NULL,
    issued_at BIGINT NOT NULL,
    document BYTES_TYPE NOT NULL,
    PRIMARY KEY (list_id, version)
);
