//! Work the window hands to a thread of its own (reading a table, previewing
//! an import): started with a name, polled each frame, never waited on. The
//! window is woken when the answer is ready.

use std::sync::mpsc::{Receiver, TryRecvError, sync_channel};

/// One piece of work on its own thread and, once done, its answer.
#[derive(Debug)]
pub struct Pending<T> {
    receiver: Option<Receiver<T>>,
}

impl<T: Send + 'static> Pending<T> {
    /// Runs `work` on a thread named `name`; `wake` is called when it is done.
    pub fn spawn(name: &str, wake: crate::engine::Waker, work: impl FnOnce() -> T + Send + 'static) -> Self {
        let (sender, receiver) = sync_channel(1);
        let spawned = std::thread::Builder::new().name(name.to_string()).spawn(move || {
            let _ = sender.send(work());
            wake();
        });
        if let Err(err) = spawned {
            tracing::warn!("cannot start {name}: {err}");
            return Self { receiver: None };
        }
        Self { receiver: Some(receiver) }
    }

    /// The answer, once (`None` while the work runs, and after it was taken).
    pub fn take(&mut self) -> Option<Result<T, String>> {
        let receiver = self.receiver.as_ref()?;
        match receiver.try_recv() {
            Ok(answer) => {
                self.receiver = None;
                Some(Ok(answer))
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                self.receiver = None;
                Some(Err("the background work stopped without an answer".into()))
            }
        }
    }

    pub fn is_running(&self) -> bool {
        self.receiver.is_some()
    }
}
