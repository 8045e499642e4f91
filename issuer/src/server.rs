//! What `huren-issuer serve` runs: from its settings, the province, the database and the service's state; the
//! listener; the status publisher; and the server loop ([`crate::serve::serve`]) until shutdown.

use std::future::Future;
use std::net::SocketAddr;

use crate::config::ServeConfig;
use crate::service::AppState;
use crate::status::StatusService;
use crate::storage::Database;
use crate::{Error, Province};

/// An issuer service set up and bound to its address, ready to run.
pub struct Server {
    listener: tokio::net::TcpListener,
    state: AppState,
    province: String,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("listener", &self.listener).field("province", &self.province).finish()
    }
}

impl Server {
    /// Set up the service `settings` describe (defaults filled in), with the issuer key opened under
    /// `passphrase`: open the province and its database (migrated), read the bundles it mirrors, and bind its
    /// address. Nothing is served until [`Server::run`].
    pub async fn bind(settings: &ServeConfig, passphrase: Option<&[u8]>) -> Result<Self, Error> {
        let status = StatusService::new(settings.status())?;
        let bulk_limits = settings.bulk()?;
        let dir = settings.dir.as_deref().ok_or_else(|| Error::Directory("none given".into()))?;
        let listen = settings.listen.as_deref().unwrap_or(crate::config::DEFAULT_LISTEN);
        let province = Province::open_with(dir, passphrase)?;
        let db = Database::for_province(dir, settings.database_url.as_deref()).await?;
        let read = |path: &std::path::Path| {
            std::fs::read(path).map_err(|source| Error::Read { path: path.display().to_string(), source })
        };
        let trust_bundle = settings.trust_bundle.as_deref().map(read).transpose()?;
        let province_bundle = settings.province_bundle.as_deref().map(read).transpose()?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| Error::Bind { address: listen.to_string(), source })?;
        let code = province.code().to_string();
        let state = AppState::configured(province, db, Box::new(crate::unix_now), status);
        state.set_bulk_progress_timeout(bulk_limits.progress_timeout);
        if let Some(bytes) = trust_bundle {
            state.set_trust_bundle(bytes);
        }
        if let Some(bytes) = province_bundle {
            state.set_province_bundle(bytes);
        }
        Ok(Server { listener, state, province: code })
    }

    /// The address the service listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The province the service issues for.
    pub fn province(&self) -> &str {
        &self.province
    }

    /// Serve until `shutdown` resolves, then finish the requests in flight; status lists are published now and
    /// then every publication interval meanwhile.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let publisher = tokio::spawn(publish_status(self.state.clone()));
        let app = crate::service::app(self.state);
        // The client's address lets the service tell clients apart when it slows down token guessing.
        let served = crate::serve::serve(self.listener, app, Default::default(), shutdown).await;
        publisher.abort();
        served.map_err(Error::Serve)
    }
}

/// Publish the status lists that need it now and then every interval, for ever; a failed publication is logged
/// and tried again at the next interval.
async fn publish_status(state: AppState) {
    let mut ticks = tokio::time::interval(state.status_interval());
    loop {
        ticks.tick().await;
        if let Err(e) = state.publish_status().await {
            tracing::error!(error = %e, "status list publication failed");
        }
    }
}
