//! One reconcile per project at a time: the rule, in one place.
//!
//! A request while a reconcile runs is queued, and later requests coalesce into that one (their
//! `start_exited` wishes OR-ed); each caller is answered when the reconcile that covers its
//! request ends. Every reconcile gets a generation: after the engine is lost, the one that was
//! running is abandoned (its callers wait for the next one), and its late completion, which
//! carries the old generation, is ignored.

use super::project::Reply;

/// The reconcile to start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub generation: u64,
    pub start_exited: bool,
}

#[derive(Debug, Default)]
pub struct ReconcileQueue {
    generation: u64,
    /// The generation of the reconcile running now.
    running: Option<u64>,
    running_waiters: Vec<Reply>,
    /// A requested reconcile not started yet: its `start_exited`.
    pending: Option<bool>,
    pending_waiters: Vec<Reply>,
}

impl ReconcileQueue {
    /// Asks for a reconcile; `reply` is answered when one that started after this call ends.
    pub fn request(&mut self, start_exited: bool, reply: Option<Reply>) {
        self.pending = Some(self.pending.unwrap_or(false) || start_exited);
        self.pending_waiters.extend(reply);
    }

    /// The reconcile to start, if one is pending and none runs.
    pub fn start(&mut self) -> Option<Ticket> {
        if self.running.is_some() {
            return None;
        }
        let start_exited = self.pending.take()?;
        self.generation += 1;
        self.running = Some(self.generation);
        self.running_waiters = std::mem::take(&mut self.pending_waiters);
        Some(Ticket {
            generation: self.generation,
            start_exited,
        })
    }

    /// The reconcile of `generation` ended: its callers, to answer; `None` when it is not the one
    /// running (a stale completion from before an engine loss).
    pub fn complete(&mut self, generation: u64) -> Option<Vec<Reply>> {
        if self.running != Some(generation) {
            return None;
        }
        self.running = None;
        Some(std::mem::take(&mut self.running_waiters))
    }

    /// The engine went away and came back: the running reconcile is abandoned, and a new one,
    /// starting exited containers again, is pending for its callers.
    pub fn engine_lost(&mut self) {
        if self.running.take().is_some() {
            let waiting = std::mem::take(&mut self.running_waiters);
            self.pending_waiters.extend(waiting);
        }
        self.request(true, None);
    }

    /// Answers `reply` with the reconcile that is pending, or else the one running: for a caller
    /// that asked for one a moment ago, in the same step (a reload that just read the files).
    /// Gives the reply back when there is neither.
    pub fn attach(&mut self, reply: Reply) -> Option<Reply> {
        if self.pending.is_some() {
            self.pending_waiters.push(reply);
        } else if self.running.is_some() {
            self.running_waiters.push(reply);
        } else {
            return Some(reply);
        }
        None
    }

    /// Drops what is pending (the project is held or gone): its callers, to answer now.
    pub fn cancel_pending(&mut self) -> Vec<Reply> {
        self.pending = None;
        std::mem::take(&mut self.pending_waiters)
    }

    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::oneshot;

    use super::*;

    fn reply() -> (Reply, oneshot::Receiver<Result<String, String>>) {
        oneshot::channel()
    }

    fn answer(waiters: Vec<Reply>, text: &str) {
        for w in waiters {
            let _ = w.send(Ok(text.to_string()));
        }
    }

    #[test]
    fn one_at_a_time_and_later_requests_coalesce() {
        let mut q = ReconcileQueue::default();
        q.request(false, None);
        let first = q.start().unwrap();
        assert!(!first.start_exited);
        assert_eq!(q.start(), None, "a second one never starts while one runs");
        q.request(false, None);
        q.request(true, None);
        q.request(false, None);
        assert_eq!(q.start(), None);
        assert!(q.complete(first.generation).is_some());
        let second = q.start().unwrap();
        assert!(second.start_exited, "coalesced wishes are OR-ed");
        assert!(q.complete(second.generation).is_some());
        assert_eq!(q.start(), None, "three requests made one reconcile");
    }

    #[test]
    fn each_caller_is_answered_by_the_reconcile_that_covers_its_request() {
        let mut q = ReconcileQueue::default();
        let (early, mut early_rx) = reply();
        q.request(false, Some(early));
        let first = q.start().unwrap();
        let (late, mut late_rx) = reply();
        q.request(false, Some(late));
        answer(q.complete(first.generation).unwrap(), "first");
        assert_eq!(early_rx.try_recv().unwrap(), Ok("first".to_string()));
        assert!(
            late_rx.try_recv().is_err(),
            "the late caller waits for a reconcile that saw its edit"
        );
        let second = q.start().unwrap();
        answer(q.complete(second.generation).unwrap(), "second");
        assert_eq!(late_rx.try_recv().unwrap(), Ok("second".to_string()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stale_completion_after_an_engine_loss_is_ignored() {
        let mut q = ReconcileQueue::default();
        let (caller, mut caller_rx) = reply();
        q.request(false, Some(caller));
        let old = q.start().unwrap();
        // The old reconcile hangs on the lost engine and reports late.
        let old_task = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            old.generation
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        q.engine_lost();
        let new = q.start().unwrap();
        assert!(
            new.start_exited,
            "after an engine loss exited containers are started again"
        );
        assert_ne!(new.generation, old.generation);
        let stale = old_task.await.unwrap();
        assert!(q.complete(stale).is_none(), "the old reconcile's result answers nobody");
        assert!(q.is_running(), "and does not end the new one");
        assert!(caller_rx.try_recv().is_err());
        answer(q.complete(new.generation).unwrap(), "after the engine came back");
        assert_eq!(
            caller_rx.try_recv().unwrap(),
            Ok("after the engine came back".to_string())
        );
    }

    #[test]
    fn attaching_joins_the_pending_reconcile_else_the_running_one() {
        let mut q = ReconcileQueue::default();
        let (lonely, _) = reply();
        assert!(q.attach(lonely).is_some(), "nothing to attach to");
        q.request(false, None);
        let t = q.start().unwrap();
        let (joined, mut joined_rx) = reply();
        assert!(q.attach(joined).is_none());
        answer(q.complete(t.generation).unwrap(), "that one");
        assert_eq!(joined_rx.try_recv().unwrap(), Ok("that one".to_string()));
    }

    #[test]
    fn cancelling_answers_the_pending_callers_only() {
        let mut q = ReconcileQueue::default();
        let (running, mut running_rx) = reply();
        q.request(false, Some(running));
        let t = q.start().unwrap();
        let (pending, _pending_rx) = reply();
        q.request(false, Some(pending));
        assert_eq!(q.cancel_pending().len(), 1);
        assert!(q.complete(t.generation).is_some_and(|w| w.len() == 1));
        assert!(
            running_rx.try_recv().is_err(),
            "the caller is answered by whoever gets the list"
        );
        assert_eq!(q.start(), None);
    }
}
