//! Memory pools a host shares between sessions. A server gives every
//! session one pool (`quiver serve --memory-limit`), so that all queries
//! and trainings together stay under one limit, and may cap each session
//! below it (`--query-memory`) with [`CappedPool`].

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};

/// A pool of at most `cap` bytes that takes them from a shared pool: a
/// reservation grows only when both have room.
#[derive(Debug)]
pub struct CappedPool {
    shared: Arc<dyn MemoryPool>,
    cap: usize,
    used: AtomicUsize,
}

impl CappedPool {
    pub fn new(shared: Arc<dyn MemoryPool>, cap: usize) -> Self {
        Self {
            shared,
            cap,
            used: AtomicUsize::new(0),
        }
    }
}

impl fmt::Display for CappedPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CappedPool({} of {})", self.cap, self.shared)
    }
}

impl MemoryPool for CappedPool {
    fn name(&self) -> &str {
        "CappedPool"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.shared.register(consumer);
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.shared.unregister(consumer);
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.used.fetch_add(additional, Ordering::Relaxed);
        self.shared.grow(reservation, additional);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.used.fetch_sub(shrink, Ordering::Relaxed);
        self.shared.shrink(reservation, shrink);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(additional).filter(|&n| n <= self.cap)
            })
            .map_err(|used| {
                DataFusionError::ResourcesExhausted(format!(
                    "{} cannot take {additional} more bytes: the statement holds {used} of its \
                     {} (quiver serve --query-memory)",
                    reservation.consumer().name(),
                    self.cap
                ))
            })?;
        if let Err(e) = self.shared.try_grow(reservation, additional) {
            self.used.fetch_sub(additional, Ordering::Relaxed);
            return Err(e);
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::execution::memory_pool::GreedyMemoryPool;

    use super::*;

    /// Two sessions capped at 60 bytes each share a pool of 100: each is
    /// held to its cap, and together to the shared limit.
    #[test]
    fn caps_and_the_shared_limit_both_hold() {
        let shared: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(100));
        let a: Arc<dyn MemoryPool> = Arc::new(CappedPool::new(Arc::clone(&shared), 60));
        let b: Arc<dyn MemoryPool> = Arc::new(CappedPool::new(Arc::clone(&shared), 60));
        let ra = MemoryConsumer::new("a").register(&a);
        let rb = MemoryConsumer::new("b").register(&b);
        ra.try_grow(50).expect("under both limits");
        assert!(ra.try_grow(20).is_err(), "over a's cap");
        rb.try_grow(40).expect("under both limits");
        let err = rb.try_grow(20).expect_err("over the shared limit");
        assert!(err.to_string().contains("Resources exhausted"), "{err}");
        assert_eq!(
            (a.reserved(), b.reserved(), shared.reserved()),
            (50, 40, 90)
        );
        drop(ra);
        rb.try_grow(20).expect("room again");
        assert_eq!(shared.reserved(), 60);
    }
}
