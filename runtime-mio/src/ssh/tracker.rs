//! Counting running tasks so the shutdown can wait for them to finish.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Counts live [`TaskToken`]s; [`Tracker::wait_idle`] returns once there are none.
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    live: AtomicUsize,
    idle: Notify,
}

/// Held by a running task; dropping it counts the task as finished.
#[derive(Debug)]
pub struct TaskToken {
    inner: Arc<Inner>,
}

impl Tracker {
    /// A token for a task that starts now.
    pub fn token(&self) -> TaskToken {
        self.inner.live.fetch_add(1, Ordering::SeqCst);
        TaskToken {
            inner: Arc::clone(&self.inner),
        }
    }

    /// Waits until no token is alive.
    pub async fn wait_idle(&self) {
        loop {
            // Created before the check, so a token dropped in between still wakes us.
            let idle = self.inner.idle.notified();
            if self.inner.live.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }
}

impl Drop for TaskToken {
    fn drop(&mut self) {
        if self.inner.live.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.inner.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_every_token() {
        let tracker = Tracker::default();
        tracker.wait_idle().await;
        let a = tracker.token();
        let b = tracker.token();
        let waiter = tokio::spawn({
            let tracker = tracker.clone();
            async move { tracker.wait_idle().await }
        });
        drop(a);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(b);
        waiter.await.expect("waiter ends");
    }
}
