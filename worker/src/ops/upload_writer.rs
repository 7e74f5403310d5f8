//! object_store's `BufWriter` behind a guard that knows how far it has come. The `BufWriter` panics
//! ("Already shut down") when it is written, flushed or aborted after its shutdown began, and its
//! boxed futures panic when polled again after they failed; a server that refuses a write (wrong
//! key, missing bucket) reaches exactly those calls on the way out. Here each of them is an error,
//! or nothing to do, instead.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use object_store::buffered::BufWriter;
use tokio::io::AsyncWrite;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// Writes go through.
    Open,
    /// A write or flush failed: the writer may hold a spent future, so only `abort` still reaches it.
    Failed,
    /// `poll_shutdown` began and has not finished: only `poll_shutdown` may poll it again.
    ShuttingDown,
    /// Shut down (whatever the outcome) or aborted: nothing reaches the writer any more. A failed
    /// shutdown left nothing behind: a single put stores nothing, and a multipart upload whose
    /// completion fails is aborted by object_store itself (`WriteMultipart::finish`).
    Finished,
}

pub struct UploadWriter {
    inner: BufWriter,
    state: State,
}

impl UploadWriter {
    pub fn new(inner: BufWriter) -> Self {
        UploadWriter {
            inner,
            state: State::Open,
        }
    }

    /// Drops whatever the upload has stored so far. After a shutdown began there is nothing left to
    /// drop (see `State::Finished`), so that is Ok.
    pub async fn abort(&mut self) -> object_store::Result<()> {
        match self.state {
            State::Open | State::Failed => {
                self.state = State::Finished;
                self.inner.abort().await
            }
            State::ShuttingDown | State::Finished => Ok(()),
        }
    }

    fn refusal(&self) -> io::Error {
        io::Error::other(match self.state {
            State::Failed => "the upload already failed",
            _ => "the upload is already finished",
        })
    }

    /// `poll` on the writer while it is open; a failure leaves it failed.
    fn while_open<T>(
        &mut self,
        poll: impl FnOnce(Pin<&mut BufWriter>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if self.state != State::Open {
            return Poll::Ready(Err(self.refusal()));
        }
        let result = ready!(poll(Pin::new(&mut self.inner)));
        if result.is_err() {
            self.state = State::Failed;
        }
        Poll::Ready(result)
    }
}

impl AsyncWrite for UploadWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.while_open(|writer| writer.poll_write(cx, buf))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.while_open(|writer| writer.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.state {
            State::Open | State::ShuttingDown => {}
            State::Failed | State::Finished => return Poll::Ready(Err(self.refusal())),
        }
        self.state = State::ShuttingDown;
        let result = ready!(Pin::new(&mut self.inner).poll_shutdown(cx));
        self.state = State::Finished;
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::memory::InMemory;
    use object_store::path::Path;
    use object_store::{ObjectStore, ObjectStoreExt};
    use tokio::io::AsyncWriteExt;

    use super::*;

    fn writer(store: &Arc<InMemory>, capacity: usize) -> UploadWriter {
        let store: Arc<dyn ObjectStore> = Arc::clone(store) as Arc<dyn ObjectStore>;
        UploadWriter::new(BufWriter::with_capacity(store, Path::from("k"), capacity))
    }

    #[tokio::test]
    async fn abort_after_shutdown_is_nothing_to_do() {
        let store = Arc::new(InMemory::new());
        for capacity in [1024, 4] {
            let mut w = writer(&store, capacity);
            w.write_all(b"0123456789").await.expect("write");
            w.shutdown().await.expect("shutdown");
            w.abort().await.expect("abort after shutdown");
            w.abort().await.expect("abort twice");
            assert_eq!(
                store
                    .get(&Path::from("k"))
                    .await
                    .expect("get")
                    .bytes()
                    .await
                    .expect("bytes"),
                b"0123456789".as_slice()
            );
        }
    }

    #[tokio::test]
    async fn every_call_after_the_end_is_an_error() {
        let store = Arc::new(InMemory::new());
        let mut w = writer(&store, 4);
        w.write_all(b"0123456789").await.expect("write");
        w.shutdown().await.expect("shutdown");
        assert!(w.write_all(b"x").await.is_err());
        assert!(w.flush().await.is_err());
        assert!(w.shutdown().await.is_err());
        let mut aborted = writer(&store, 4);
        aborted.write_all(b"0123456789").await.expect("write");
        aborted.abort().await.expect("abort");
        assert!(aborted.write_all(b"x").await.is_err());
        assert!(aborted.shutdown().await.is_err());
    }
}
