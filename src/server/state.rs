//! What the server remembers between RPCs: prepared statements, the work a
//! ticket stands for until its DoGet, and the queries running now (so that
//! they can be cancelled).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::SendableRecordBatchStream;
use futures::Stream;
use futures::future::{AbortHandle, AbortRegistration, Abortable};
use serde::{Deserialize, Serialize};
use tonic::Status;

use super::log;
use super::status::to_status;

/// How long a ticket's work waits for its DoGet before it is dropped.
const TICKET_LIFE: Duration = Duration::from_secs(15 * 60);

/// At most this many prepared statements are kept; past it the least
/// recently used is closed (clients that never close them cannot grow the
/// server without bound).
const MAX_PREPARED: usize = 10_000;

/// The bytes of a ticket: which pending work it fetches.
#[derive(Debug, Serialize, Deserialize)]
pub struct TicketHandle {
    pub id: u64,
}

/// The work a ticket stands for.
pub enum Pending {
    /// A query, run when the ticket is fetched, once per parameter row.
    Query {
        sql: String,
        params: Option<RecordBatch>,
        user: String,
        /// The schema the FlightInfo promised; the rows are sent in it.
        schema: SchemaRef,
    },
    /// A statement with effects, already run when its FlightInfo was asked
    /// for: its result.
    Done {
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        user: String,
    },
}

/// A prepared statement: its text and the parameters bound to it.
pub struct StoredStatement {
    pub user: String,
    pub sql: String,
    pub params: Option<RecordBatch>,
    used: Instant,
}

pub struct State {
    next: AtomicU64,
    pending: Mutex<HashMap<u64, (Instant, Pending)>>,
    prepared: Mutex<HashMap<u64, StoredStatement>>,
    running: Mutex<HashMap<u64, (String, AbortHandle)>>,
    cancelled: Mutex<HashMap<u64, Instant>>,
}

fn poisoned() -> Status {
    Status::internal("server state lock poisoned")
}

impl State {
    /// An empty state. Ids start from a random point so that a handle from
    /// an earlier run of the server is not mistaken for one of this run's.
    pub fn new() -> Self {
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        Self {
            next: AtomicU64::new(u64::from_le_bytes(seed) >> 16),
            pending: Mutex::default(),
            prepared: Mutex::default(),
            running: Mutex::default(),
            cancelled: Mutex::default(),
        }
    }

    pub fn next_id(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    pub fn put_pending(&self, pending: Pending) -> Result<u64, Status> {
        let id = self.next_id();
        let mut map = self.pending.lock().map_err(|_| poisoned())?;
        let now = Instant::now();
        map.retain(|_, (at, _)| now.duration_since(*at) < TICKET_LIFE);
        map.insert(id, (now, pending));
        Ok(id)
    }

    /// The work of ticket `id`, which only the user who got the ticket may
    /// fetch (ids are sequential, so they are not secrets).
    pub fn take_pending(&self, id: u64, user: &str) -> Result<Pending, Status> {
        if self
            .cancelled
            .lock()
            .map_err(|_| poisoned())?
            .remove(&id)
            .is_some()
        {
            self.pending.lock().map_err(|_| poisoned())?.remove(&id);
            return Err(Status::cancelled("the query was cancelled"));
        }
        let mut pending = self.pending.lock().map_err(|_| poisoned())?;
        let owner = match pending.get(&id) {
            Some((_, Pending::Query { user, .. } | Pending::Done { user, .. })) => user.as_str(),
            None => "",
        };
        if owner != user {
            return Err(Status::not_found(
                "unknown or already fetched ticket (a ticket is fetched once, within 15 minutes)",
            ));
        }
        Ok(pending.remove(&id).map(|(_, p)| p).expect("checked above"))
    }

    pub fn prepare(&self, sql: String, user: &str) -> Result<u64, Status> {
        let id = self.next_id();
        let mut map = self.prepared.lock().map_err(|_| poisoned())?;
        if map.len() >= MAX_PREPARED
            && let Some(oldest) = map.iter().min_by_key(|(_, p)| p.used).map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        map.insert(
            id,
            StoredStatement {
                user: user.to_string(),
                sql,
                params: None,
                used: Instant::now(),
            },
        );
        Ok(id)
    }

    /// The statement's text and bound parameters.
    pub fn prepared(&self, id: u64, user: &str) -> Result<(String, Option<RecordBatch>), Status> {
        let mut map = self.prepared.lock().map_err(|_| poisoned())?;
        let p = map
            .get_mut(&id)
            .filter(|p| p.user == user)
            .ok_or_else(unknown_prepared)?;
        p.used = Instant::now();
        Ok((p.sql.clone(), p.params.clone()))
    }

    pub fn bind(&self, id: u64, user: &str, params: Option<RecordBatch>) -> Result<(), Status> {
        let mut map = self.prepared.lock().map_err(|_| poisoned())?;
        let p = map
            .get_mut(&id)
            .filter(|p| p.user == user)
            .ok_or_else(unknown_prepared)?;
        p.params = params;
        p.used = Instant::now();
        Ok(())
    }

    pub fn close(&self, id: u64, user: &str) -> Result<(), Status> {
        let mut map = self.prepared.lock().map_err(|_| poisoned())?;
        if map.get(&id).is_some_and(|p| p.user == user) {
            map.remove(&id);
        }
        Ok(())
    }

    /// Marks query `id` as running until the returned registration's stream
    /// is dropped.
    pub fn start(&self, id: u64, user: &str) -> Result<AbortRegistration, Status> {
        let (handle, registration) = AbortHandle::new_pair();
        self.running
            .lock()
            .map_err(|_| poisoned())?
            .insert(id, (user.to_string(), handle));
        Ok(registration)
    }

    fn finish(&self, id: u64) {
        if let Ok(mut running) = self.running.lock() {
            running.remove(&id);
        }
    }

    /// Cancels `user`'s query `id`: stops it if it runs, or refuses its
    /// DoGet if it has not started. Returns false when there is no such
    /// query of that user's.
    pub fn cancel(&self, id: u64, user: &str) -> Result<bool, Status> {
        {
            let mut running = self.running.lock().map_err(|_| poisoned())?;
            if running.get(&id).is_some_and(|(owner, _)| owner == user) {
                if let Some((_, handle)) = running.remove(&id) {
                    handle.abort();
                }
                return Ok(true);
            }
        }
        let owned = match self.pending.lock().map_err(|_| poisoned())?.get(&id) {
            Some((_, Pending::Query { user: owner, .. } | Pending::Done { user: owner, .. })) => {
                owner == user
            }
            None => false,
        };
        if owned {
            let mut cancelled = self.cancelled.lock().map_err(|_| poisoned())?;
            let now = Instant::now();
            cancelled.retain(|_, at| now.duration_since(*at) < TICKET_LIFE);
            cancelled.insert(id, now);
        }
        Ok(owned)
    }

    pub fn running(&self) -> usize {
        self.running.lock().map(|r| r.len()).unwrap_or(0)
    }
}

fn unknown_prepared() -> Status {
    Status::not_found("unknown prepared statement (it was closed, or the server restarted)")
}

/// A query's result stream as the server sends it: stopped by a cancel or
/// the query's time limit, and logged once when it ends or is dropped (a
/// client that disconnects drops it, which stops the query).
pub struct QueryStream {
    inner: Abortable<SendableRecordBatchStream>,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    limit: Option<Duration>,
    state: std::sync::Arc<State>,
    id: u64,
    user: String,
    kind: String,
    started: Instant,
    rows: u64,
    outcome: &'static str,
    done: bool,
}

impl QueryStream {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        inner: SendableRecordBatchStream,
        registration: AbortRegistration,
        limit: Option<Duration>,
        started: Instant,
        state: std::sync::Arc<State>,
        id: u64,
        user: String,
        kind: String,
    ) -> Self {
        let deadline = limit.map(|l| {
            let left = l.saturating_sub(started.elapsed());
            Box::pin(tokio::time::sleep(left))
        });
        Self {
            inner: Abortable::new(inner, registration),
            deadline,
            limit,
            state,
            id,
            user,
            kind,
            started,
            rows: 0,
            outcome: "disconnected",
            done: false,
        }
    }

    fn end(&mut self, outcome: &'static str) {
        self.outcome = outcome;
        self.done = true;
    }
}

impl Stream for QueryStream {
    type Item = Result<RecordBatch, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(deadline) = self.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            let limit = self.limit.unwrap_or_default();
            self.end("timeout");
            return Poll::Ready(Some(Err(Status::deadline_exceeded(format!(
                "the query ran longer than the server's limit of {} s (quiver serve --query-timeout)",
                limit.as_secs_f64()
            )))));
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(batch))) => {
                self.rows += batch.num_rows() as u64;
                Poll::Ready(Some(Ok(batch)))
            }
            Poll::Ready(Some(Err(e))) => {
                self.end("error");
                Poll::Ready(Some(Err(to_status(&e))))
            }
            Poll::Ready(None) => {
                if self.inner.is_aborted() {
                    self.end("cancelled");
                    Poll::Ready(Some(Err(Status::cancelled("the query was cancelled"))))
                } else {
                    self.end("ok");
                    Poll::Ready(None)
                }
            }
        }
    }
}

impl Drop for QueryStream {
    fn drop(&mut self) {
        self.state.finish(self.id);
        log::line(
            &self.user,
            "DoGet",
            format_args!(
                "kind={} rows={} ms={} status={}",
                self.kind,
                self.rows,
                self.started.elapsed().as_millis(),
                self.outcome
            ),
        );
    }
}
