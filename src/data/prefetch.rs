//! Prepare the next batch while the current one trains: a producer thread behind a bounded
//! channel.

use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::JoinHandle;

use anyhow::Result;

use super::Batch;

/// An iterator whose items are produced `depth` ahead on a background thread.
pub struct Prefetch {
    rx: Option<Receiver<Result<Batch>>>,
    handle: Option<JoinHandle<()>>,
}

impl Prefetch {
    /// Run `source` on its own thread, keeping at most `depth` finished batches waiting.
    pub fn new<I>(source: I, depth: usize) -> Self
    where
        I: Iterator<Item = Result<Batch>> + Send + 'static,
    {
        let (tx, rx) = sync_channel(depth.max(1));
        let handle = std::thread::Builder::new()
            .name("catkd-batches".into())
            .spawn(move || {
                for item in source {
                    // The consumer hung up (epoch abandoned): stop preparing batches.
                    if tx.send(item).is_err() {
                        break;
                    }
                }
            })
            .ok();
        Prefetch { rx: Some(rx), handle }
    }
}

impl Iterator for Prefetch {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        let rx = self.rx.as_ref()?;
        match rx.recv() {
            Ok(item) => Some(item),
            Err(_) => {
                // The producer is done; if it died instead of finishing, say so once.
                self.rx = None;
                let handle = self.handle.take();
                match handle.map(JoinHandle::join) {
                    Some(Ok(())) => None,
                    Some(Err(_)) => Some(Err(anyhow::anyhow!(
                        "the batch preparation thread failed (see the message above); the epoch is incomplete"
                    ))),
                    None => Some(Err(anyhow::anyhow!(
                        "could not start the batch preparation thread; the system is out of threads or memory"
                    ))),
                }
            }
        }
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        // Hang up first so a producer blocked on a full channel wakes up and exits.
        self.rx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
