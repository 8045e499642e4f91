//! Status lists as stored: the index blocks each node reserved, and the signed versions published.

use super::credentials::CredentialStatus;
use super::sql::{Row, Statement};
use super::Database;
use crate::Error;

/// A column that holds a list id, block or index: a `u32` stored as `BIGINT`.
fn u32_column(row: &Row, column: usize, what: &str) -> Result<u32, Error> {
    u32::try_from(row.get::<i64, _>(column)?).map_err(|_| Error::StoredData(what.into()))
}

impl Database {
    /// Reserve block `block` of `province`'s status list `list` for `node`; `false` when another node holds it
    /// already.
    pub async fn reserve_status_block(
        &self,
        province: &str,
        list: u32,
        block: u32,
        node: &str,
        now: i64,
    ) -> Result<bool, Error> {
        let sql =
            "INSERT INTO status_blocks (province, list_id, block, node, reserved_at) VALUES ($1, $2, $3, $4, $5) \
                   ON CONFLICT (province, list_id, block) DO NOTHING";
        let rows = self.execute(Statement::new(sql).bind(province).bind(list).bind(block).bind(node).bind(now)).await?;
        Ok(rows == 1)
    }

    /// The blocks of `province`'s status list `list` already reserved (by any of its nodes), and those reserved
    /// before lists were kept per province whose province is unknown (taken for every province).
    pub async fn status_blocks(&self, province: &str, list: u32) -> Result<Vec<u32>, Error> {
        let sql = "SELECT block FROM status_blocks WHERE list_id = $1 AND province IN ($2, '')";
        let rows = self.fetch_all(Statement::new(sql).bind(list).bind(province)).await?;
        rows.iter().map(|r| u32_column(r, 0, "status block")).collect()
    }

    /// The status lists of `province` in which indices have been handed out, in order.
    pub async fn status_lists(&self, province: &str) -> Result<Vec<u32>, Error> {
        let sql = "SELECT DISTINCT list_id FROM status_blocks WHERE province = $1 ORDER BY list_id";
        let rows = self.fetch_all(Statement::new(sql).bind(province)).await?;
        rows.iter().map(|r| u32_column(r, 0, "status list id")).collect()
    }

    /// Every credential of `province`'s status list `list` that is not valid: (index, status).
    pub async fn non_valid_in_list(&self, province: &str, list: u32) -> Result<Vec<(u32, CredentialStatus)>, Error> {
        let sql = "SELECT status_index, status FROM credentials \
                   WHERE province = $1 AND status_list = $2 AND status <> 'valid'";
        let rows = self.fetch_all(Statement::new(sql).bind(province).bind(list)).await?;
        rows.iter()
            .map(|r| Ok((u32_column(r, 0, "status index")?, CredentialStatus::parse(&r.get::<String, _>(1)?)?)))
            .collect()
    }

    /// Record a published version of `province`'s status list `list`; `false` when that version exists already
    /// (another node of the province published it first).
    pub async fn insert_publication(
        &self,
        province: &str,
        list: u32,
        version: u64,
        issued_at: i64,
        document: &[u8],
    ) -> Result<bool, Error> {
        let sql = "INSERT INTO status_publications (province, list_id, version, issued_at, document) \
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT (province, list_id, version) DO NOTHING";
        let version = i64::try_from(version).map_err(|_| Error::StoredData("status list version".into()))?;
        let statement = Statement::new(sql).bind(province).bind(list).bind(version).bind(issued_at).bind(document);
        Ok(self.execute(statement).await? == 1)
    }

    /// The signed document of a published version of `province`'s list `list` (`None` for the latest: the
    /// newest version).
    pub async fn publication(&self, province: &str, list: u32, version: Option<u64>) -> Result<Option<Vec<u8>>, Error> {
        let latest = "SELECT document FROM status_publications WHERE province = $1 AND list_id = $2 \
                      ORDER BY version DESC LIMIT 1";
        let exact = "SELECT document FROM status_publications WHERE province = $1 AND list_id = $2 AND version = $3";
        let version = version.map(i64::try_from).transpose().map_err(|_| Error::StoredData("version".into()))?;
        let statement = match version {
            None => Statement::new(latest).bind(province).bind(list),
            Some(v) => Statement::new(exact).bind(province).bind(list).bind(v),
        };
        self.fetch_optional(statement).await?.map(|row| row.get::<Vec<u8>, _>(0)).transpose()
    }
}
