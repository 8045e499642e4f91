-- Status lists belong to a province. Provinces that share one database each have their own list 1, 2, ...:
-- blocks, credentials' status references and publications are keyed by province too (before this, a province
-- could publish another's statuses or serve another's signed list).
--
-- Blocks reserved before this: the province of the credentials in the block (4096 indices a block:
-- `status::BLOCK_SIZE`), or '' (unknown: no credential was issued in it), which every province treats as taken.
CREATE TABLE status_blocks_by_province (
    province TEXT NOT NULL,
    list_id BIGINT NOT NULL,
    block BIGINT NOT NULL,
    node TEXT NOT NULL,
    reserved_at BIGINT NOT NULL,
    PRIMARY KEY (province, list_id, block)
);
INSERT INTO status_blocks_by_province (province, list_id, block, node, reserved_at)
    SELECT COALESCE((SELECT c.province FROM credentials c
                     WHERE c.status_list = b.list_id
                       AND c.status_index >= b.block * 4096 AND c.status_index < (b.block + 1) * 4096
                     LIMIT 1), ''),
           b.list_id, b.block, b.node, b.reserved_at
    FROM status_blocks b;
DROP TABLE status_blocks;
ALTER TABLE status_blocks_by_province RENAME TO status_blocks;
-- Publications before this get their province from the signed document itself, read by the migration code
-- (`Database::assign_legacy_publications`); until then they are '' and served to no one.
CREATE TABLE status_publications_by_province (
    province TEXT NOT NULL,
    list_id BIGINT NOT NULL,
    version BIGINT NOT NULL,
    issued_at BIGINT NOT NULL,
    document BYTES_TYPE NOT NULL,
    PRIMARY KEY (province, list_id, version)
);
INSERT INTO status_publications_by_province (province, list_id, version, issued_at, document)
    SELECT '', list_id, version, issued_at, document FROM status_publications;
DROP TABLE status_publications;
ALTER TABLE status_publications_by_province RENAME TO status_publications;
DROP INDEX credentials_status_ref;
CREATE UNIQUE INDEX credentials_status_ref ON credentials (province, status_list, status_index)
