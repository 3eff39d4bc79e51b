//! `quiver serve`: an Arrow Flight SQL server over a warehouse, for
//! notebooks (ADBC), JDBC tools and scheduled SQL.
//!
//! The layout follows the protocol/transport split: [`service`] decodes
//! each Flight SQL command and answers it with a fresh [`QuiverSession`]
//! (one planner per RPC, sharing the warehouse and the model cache);
//! [`auth`] checks who is calling; this module binds the socket, sets up
//! TLS and shuts down on SIGTERM.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::memory_pool::{GreedyMemoryPool, MemoryPool, TrackConsumersPool};
use futures::FutureExt;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use crate::session::SessionOptions;
use crate::warehouse::Warehouse;

mod arrow_types;
pub mod auth;
mod execute;
mod ingest;
mod log;
mod metadata;
mod protocol;
mod runtime;
pub mod service;
mod state;
mod status;

pub use auth::Auth;
pub use service::QuiverFlightService;

/// The largest message a client may send (an ingested or bound batch).
const MAX_MESSAGE: usize = 256 * 1024 * 1024;

/// `quiver serve`: an Arrow Flight SQL server over the warehouse.
///
/// Loopback only unless authentication is configured. Tokens are given as
/// NAME:SECRET (or SECRET alone, for the user "token") with --token, in
/// QUIVER_TOKENS (comma-separated) or in --token-file (one per line); users
/// who sign in with a password are listed as NAME:PASSWORD in
/// --users-file or QUIVER_USERS.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// The warehouse to serve (as `quiver --warehouse URL serve`; this
    /// form wins when both are given).
    #[arg(short = 'w', long, value_name = "URL")]
    pub warehouse: Option<String>,

    #[command(flatten)]
    pub cluster: crate::cluster::ClusterArg,

    /// The address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:50051", value_name = "ADDR")]
    pub bind: SocketAddr,

    /// A bearer token clients may present (NAME:SECRET or SECRET).
    #[arg(
        long = "token",
        env = "QUIVER_TOKENS",
        value_delimiter = ',',
        value_name = "TOKEN"
    )]
    pub tokens: Vec<String>,

    /// A file of bearer tokens, one NAME:SECRET or SECRET per line.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// A file of NAME:PASSWORD lines for username/password sign-in (the
    /// Flight handshake returns a bearer token for the session).
    #[arg(long, value_name = "FILE")]
    pub users_file: Option<PathBuf>,

    /// Users as NAME:PASSWORD, comma-separated (prefer --users-file: the
    /// environment of a process can be read by its user's other processes).
    #[arg(
        long = "users",
        env = "QUIVER_USERS",
        value_delimiter = ',',
        hide = true
    )]
    pub users: Vec<String>,

    /// Send tokens and passwords without TLS on an address beyond loopback
    /// (refused otherwise: anyone on the path could read them).
    #[arg(long)]
    pub insecure_transport: bool,

    /// PEM certificate chain for TLS (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for TLS (with --tls-cert).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Memory one query or training may hold before it spills or fails,
    /// e.g. 2GiB, 512MiB (default: no limit of its own).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub query_memory: Option<usize>,

    /// Memory all queries and trainings together may hold, e.g. 16GiB
    /// (default: no limit). A statement that would pass it spills or
    /// fails with "resources exhausted".
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<usize>,

    /// How long one query may run, e.g. 30s, 10m, 2h; 0 for no limit.
    #[arg(long, default_value = "1h", value_name = "TIME", value_parser = parse_duration)]
    pub query_timeout: Duration,

    /// Let statements name server paths outside the warehouse (CREATE
    /// EXTERNAL TABLE, COPY ... TO, COPY MODEL, CREATE MODEL ... FROM).
    #[arg(long)]
    pub allow_outside_paths: bool,

    /// After SIGTERM or Ctrl-C, how long running queries may take to
    /// finish before they are cancelled.
    #[arg(long, default_value = "30s", value_name = "TIME", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
}

/// A server bound to its socket, not yet serving.
pub struct Bound {
    listener: TcpListener,
    service: QuiverFlightService,
    tls: Option<ServerTlsConfig>,
    grace: Duration,
}

impl Bound {
    /// Checks the configuration, opens the warehouse and binds the socket.
    /// When this returns, clients can connect to [`Bound::local_addr`].
    pub async fn bind(warehouse: &str, args: &ServeArgs) -> Result<Self> {
        crate::install_crypto_provider();
        let auth = Auth::from_args(args)?;
        if !args.bind.ip().is_loopback() && !auth.enabled() {
            return Err(DataFusionError::Configuration(format!(
                "refusing to listen on {} without authentication: anyone who can reach it could run SQL on this machine. \
                 Give tokens with --token NAME:SECRET, QUIVER_TOKENS or --token-file, or users with --users-file, \
                 or bind to 127.0.0.1",
                args.bind
            )));
        }
        if !args.bind.ip().is_loopback() && args.tls_cert.is_none() && !args.insecure_transport {
            return Err(DataFusionError::Configuration(format!(
                "refusing to take tokens and passwords in clear text on {}: give --tls-cert and \
                 --tls-key, bind to 127.0.0.1 behind a TLS proxy, or pass --insecure-transport \
                 if the network is private",
                args.bind
            )));
        }
        for warning in auth.warnings() {
            eprintln!("warning: {warning}");
        }
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => {
                let read = |p: &PathBuf| {
                    std::fs::read(p).map_err(|e| {
                        DataFusionError::Configuration(format!("reading {}: {e}", p.display()))
                    })
                };
                Some(ServerTlsConfig::new().identity(Identity::from_pem(read(cert)?, read(key)?)))
            }
            _ => None,
        };
        let warehouse = Warehouse::open(warehouse).await?;
        let options = SessionOptions {
            memory_limit: args.query_memory,
            memory_pool: args.memory_limit.map(|limit| {
                Arc::new(TrackConsumersPool::new(
                    GreedyMemoryPool::new(limit),
                    NonZeroUsize::new(5).expect("5 is not zero"),
                )) as Arc<dyn MemoryPool>
            }),
            outside_paths: args.allow_outside_paths,
            progress: Arc::new(log::ProgressLog::default()),
            min_retention: std::time::Duration::from_secs(3600),
            cluster: args.cluster.cluster.clone(),
        };
        let timeout = (!args.query_timeout.is_zero()).then_some(args.query_timeout);
        let service = QuiverFlightService::new(warehouse, options, Arc::new(auth), timeout)
            .map_err(|e| {
                DataFusionError::Configuration(format!("cannot start the query runtime: {e}"))
            })?;
        let listener = TcpListener::bind(args.bind).await.map_err(|e| {
            DataFusionError::Configuration(format!("cannot listen on {}: {e}", args.bind))
        })?;
        Ok(Self {
            listener,
            service,
            tls,
            grace: args.shutdown_grace,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    pub fn service(&self) -> &QuiverFlightService {
        &self.service
    }

    /// Serves until `shutdown` completes, then lets running requests finish
    /// for the grace period and cancels what is left.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let auth = Arc::clone(self.service.auth());
        let service = FlightServiceServer::new(self.service)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        let service = tonic::service::interceptor::InterceptedService::new(
            service,
            move |req: tonic::Request<()>| auth.intercept(req),
        );
        let mut builder = Server::builder();
        if let Some(tls) = self.tls {
            builder = builder
                .tls_config(tls)
                .map_err(|e| DataFusionError::Configuration(format!("TLS: {e}")))?;
        }
        let incoming = TcpIncoming::from(self.listener).with_nodelay(Some(true));
        let shutdown = shutdown.shared();
        let serve = builder
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, shutdown.clone());
        let grace = self.grace;
        tokio::select! {
            served = serve => served.map_err(|e| DataFusionError::External(Box::new(e))),
            _ = async move {
                shutdown.await;
                tokio::time::sleep(grace).await;
            } => {
                log::line("server", "shutdown", format_args!("grace period over; cancelling the queries still running"));
                Ok(())
            }
        }
    }
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => futures::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = futures::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    log::line(
        "server",
        "shutdown",
        format_args!("signal received; finishing running queries"),
    );
}

/// Runs `quiver serve` until SIGTERM or Ctrl-C.
pub async fn run(warehouse: &str, args: &ServeArgs) -> Result<()> {
    let warehouse = args.warehouse.as_deref().unwrap_or(warehouse);
    let bound = Bound::bind(warehouse, args).await?;
    let addr = bound.local_addr()?;
    let scheme = if args.tls_cert.is_some() {
        "grpc+tls"
    } else {
        "grpc"
    };
    // The readiness line: scripts and tests wait for it.
    println!(
        "quiver serve: listening on {scheme}://{addr} (warehouse {})",
        bound.service().warehouse_url()
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    bound.serve(shutdown_signal()).await
}

/// `2GiB`, `512MiB`, `100MB`, `1048576`.
fn parse_size(s: &str) -> std::result::Result<usize, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("'{s}' is not a size"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "tib" => 1024.0f64.powi(4),
        other => {
            return Err(format!(
                "unknown size unit '{other}' (use B, MiB, GiB, MB, GB)"
            ));
        }
    };
    Ok((n * mult) as usize)
}

/// `30s`, `10m`, `2h`, `500ms`, `0`.
fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        other => return Err(format!("unknown time unit '{other}' (use ms, s, m, h)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("512 MiB"), Ok(512 << 20));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("2 bananas").is_err());
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("ten").is_err());
    }
}
