//! The read loop (one frame at a time, in order) and the one writer that owns the protocol output.

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::future::{AbortHandle, Abortable, BoxFuture};
use futures::task::noop_waker_ref;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::codec::{self, Decoded, Request, Success, MAX_FRAME};
use crate::errors::{ErrorInfo, Kind};
use crate::faults;
use crate::ops::{self, Ctx};
use crate::sync::lock;

/// Why the read loop ended; main turns it into the exit status.
pub enum End {
    /// stdin reached EOF at a frame boundary: the parent is done with us.
    Eof,
    /// The stream can no longer be trusted (protocol.md section 7).
    Protocol(String),
}

/// Reads one frame; `Ok(None)` is a clean EOF before a frame starts.
pub(crate) fn read_frame(input: &mut impl Read, body: &mut Vec<u8>) -> Result<Option<()>, String> {
    let mut header = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match input.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err("stdin ended inside a frame header".into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("reading stdin: {e}")),
        }
    }
    let len = u32::from_be_bytes(header) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(format!("frame length {len} is outside 1..={MAX_FRAME}"));
    }
    body.clear();
    body.resize(len, 0);
    input
        .read_exact(body)
        .map_err(|e| format!("stdin ended inside a {len}-byte frame: {e}"))?;
    Ok(Some(()))
}

/// The protocol output, shared by the writer thread (answers of tasks) and the read loop (answers it
/// gives inline). Frames go whole under the lock, so they never interleave.
pub type Output = Arc<Mutex<BufWriter<std::fs::File>>>;

pub fn output(file: std::fs::File) -> Output {
    Arc::new(Mutex::new(BufWriter::with_capacity(256 * 1024, file)))
}

fn write_frame(out: &mut BufWriter<std::fs::File>, frame: &[u8]) {
    let header = (frame.len() as u32).to_be_bytes();
    if out
        .write_all(&header)
        .and_then(|()| out.write_all(frame))
        .is_err()
    {
        std::process::exit(0); // the parent has gone
    }
}

fn flush(out: &mut BufWriter<std::fs::File>) {
    if out.flush().is_err() {
        std::process::exit(0);
    }
}

/// Writes every queued frame, flushing only when the queue is empty, so responses that finish
/// together leave in one write. Exits the process when the parent has gone.
pub fn write_loop(mut rx: mpsc::UnboundedReceiver<Vec<u8>>, output: Output) {
    while let Some(frame) = rx.blocking_recv() {
        let mut out = lock(&output);
        let mut next = Some(frame);
        while let Some(frame) = next {
            write_frame(&mut out, &frame);
            next = rx.try_recv().ok();
        }
        flush(&mut out);
    }
}

pub struct Server {
    ctx: Arc<Ctx>,
    runtime: Handle,
    out: mpsc::UnboundedSender<Vec<u8>>,
    /// Where the read loop writes the answers it gives inline; flushed before it waits for input.
    direct: Output,
    /// Whether `direct` holds answers not flushed yet.
    unflushed: std::cell::Cell<bool>,
    permits: Arc<Semaphore>,
    /// The requests running as tasks, by id, so that a `cancel` can stop one.
    running: Arc<Mutex<HashMap<u64, AbortHandle>>>,
}

impl Server {
    pub fn new(
        ctx: Ctx,
        runtime: Handle,
        out: mpsc::UnboundedSender<Vec<u8>>,
        direct: Output,
        concurrency: usize,
    ) -> Self {
        Server {
            ctx: Arc::new(ctx),
            runtime,
            out,
            direct,
            unflushed: std::cell::Cell::new(false),
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            running: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn send(&self, id: u64, result: &Result<Success, ErrorInfo>) {
        // A closed channel means the writer has already exited the process.
        let _ = self.out.send(codec::encode_response(id, result));
    }

    /// An answer given by the read loop itself; it leaves when the loop has no more input at hand,
    /// so a burst of requests answered inline goes out in one write.
    fn answer_inline(&self, id: u64, result: &Result<Success, ErrorInfo>) {
        write_frame(&mut lock(&self.direct), &codec::encode_response(id, result));
        self.unflushed.set(true);
    }

    /// After stdin's EOF, with no one left to complete or abort them: the uploads still open are
    /// aborted, and the aborts and streams already ending are waited for, within `grace`, so
    /// that a caller stopped by Ctrl-C leaves no parts on the server. Other work is dropped.
    pub fn wind_down(&self, grace: Duration) {
        let ctx = Arc::clone(&self.ctx);
        // A stream's task ends when its commands do, and aborts its upload.
        lock(&ctx.streams).clear();
        let ending = async move {
            // First what is ending (aborts asked for, streams, uploads being created, which land
            // in the table), then what the table holds.
            ctx.cleanups.settled().await;
            ops::multipart::abort_all(&ctx).await;
        };
        // The timer is made inside the runtime, which it needs.
        let _ = self
            .runtime
            .block_on(async move { tokio::time::timeout(grace, ending).await });
    }

    pub fn run(&self, input: impl Read) -> End {
        // Operations polled on this thread may use tokio (timers, spawn_blocking).
        let _runtime = self.runtime.enter();
        let mut input = BufReader::with_capacity(256 * 1024, input);
        let mut body = Vec::new();
        loop {
            if self.unflushed.get() && input.buffer().is_empty() {
                flush(&mut lock(&self.direct));
                self.unflushed.set(false);
            }
            match read_frame(&mut input, &mut body) {
                Ok(None) => {
                    flush(&mut lock(&self.direct));
                    return End::Eof;
                }
                Err(message) => return self.fatal(message),
                Ok(Some(())) => {}
            }
            match codec::decode_request(&body) {
                Err(message) => return self.fatal(message),
                Ok(Decoded::Invalid { id, message }) => {
                    self.answer_inline(id, &Err(ErrorInfo::new(Kind::Protocol, message)))
                }
                Ok(Decoded::Request(request)) => self.dispatch(request),
            }
        }
    }

    fn fatal(&self, message: String) -> End {
        flush(&mut lock(&self.direct));
        self.send(0, &Err(ErrorInfo::new(Kind::Protocol, message.clone())));
        End::Protocol(message)
    }

    fn dispatch(&self, request: Request) {
        let Some(id) = request.id() else {
            match request {
                Request::Register(r) => self.ctx.stores.register(r.store, r.config),
                Request::Credentials(r) => self.ctx.stores.credentials.push(r),
                Request::Invalidate(r) => self.ctx.stores.invalidate(r.store),
                Request::Cancel(r) => {
                    // Unknown ids are fine: the request finished (and was answered) already.
                    if let Some(handle) = lock(&self.running).remove(&r.target) {
                        handle.abort();
                    }
                }
                _ => {}
            }
            return;
        };
        if let Request::Ping(_) = request {
            // Answered by the read loop itself, past the concurrency limit: a worker that answers
            // pings is reading its input, however busy its requests keep it.
            self.answer_inline(id, &Ok(Success::Empty));
            return;
        }
        if let Some(routed) = stream_command(&self.ctx, &request) {
            // Stream commands go to their stream's task, which answers them in order.
            if let Err(e) = routed {
                self.answer_inline(id, &Err(e));
            }
            return;
        }
        let fault = faults::prelude(&request, &self.out);
        let region = request.region().map(|(offset, _)| offset as usize);
        let op = request.op();
        let started = Instant::now();
        let ctx = Arc::clone(&self.ctx);
        let operation = operation(Arc::clone(&self.ctx), request);
        let mut work: BoxFuture<'static, Result<Success, ErrorInfo>> = Box::pin(async move {
            if let Some(fault) = fault {
                fault.await;
            }
            let result = operation.await;
            if op != "metrics" {
                ctx.latency.record(op, started.elapsed());
            }
            result
        });
        // One poll here first: what can finish without waiting (most `memory://` calls, a bad key)
        // is answered by this thread, sparing the hand-offs to a task and to the writer thread.
        let permit = Arc::clone(&self.permits).try_acquire_owned().ok();
        if permit.is_some() {
            let mut cx = Context::from_waker(noop_waker_ref());
            if let Poll::Ready(result) = work.as_mut().poll(&mut cx) {
                if !region.is_some_and(|offset| self.ctx.arena.in_use(offset)) {
                    self.answer_inline(id, &result);
                    return;
                }
                work = Box::pin(std::future::ready(result));
            }
        }
        self.spawn(id, work, permit, region);
    }

    /// Runs `work` as a task that a `cancel` can stop, holding a concurrency permit.
    fn spawn(
        &self,
        id: u64,
        work: BoxFuture<'static, Result<Success, ErrorInfo>>,
        permit: Option<OwnedSemaphorePermit>,
        region: Option<usize>,
    ) {
        let out = self.out.clone();
        let arena = Arc::clone(&self.ctx.arena);
        let permits = Arc::clone(&self.permits);
        let running = Arc::clone(&self.running);
        let (handle, registration) = AbortHandle::new_pair();
        lock(&running).insert(id, handle);
        let work = Abortable::new(
            async move {
                let _permit = match permit {
                    Some(permit) => permit,
                    None => permits.acquire_owned().await.ok()?,
                };
                Some(work.await)
            },
            registration,
        );
        self.runtime.spawn(async move {
            // Whichever wins, the request gets exactly one response: its result, or `cancelled`
            // once its work (and every write into its region) has stopped.
            let result = match work.await {
                Ok(Some(result)) => result,
                Ok(None) => Err(ErrorInfo::new(
                    Kind::Protocol,
                    "the worker is shutting down",
                )),
                Err(_) => Err(ErrorInfo::new(
                    Kind::Cancelled,
                    "cancelled by the caller before it finished",
                )),
            };
            lock(&running).remove(&id);
            if let Some(offset) = region {
                // Work cut off by a cancel may still hold the region (an upload's payload, a
                // blocking file read): the answer waits until it has let go.
                while arena.in_use(offset) {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
            let _ = out.send(codec::encode_response(id, &result));
        });
    }
}

/// The work of one request. Built here, in frame order, because a multipart part takes its part number
/// when it starts; the rest start when the task runs.
fn operation(ctx: Arc<Ctx>, request: Request) -> BoxFuture<'static, Result<Success, ErrorInfo>> {
    match request {
        Request::MultipartPart(r) => ops::multipart::part(&ctx, r),
        Request::Get(r) => Box::pin(async move { ops::get::get(&ctx, r).await }),
        Request::Download(r) => Box::pin(async move { ops::files::download(&ctx, r).await }),
        Request::DownloadPart(r) => {
            Box::pin(async move { ops::files::download_part(&ctx, r).await })
        }
        Request::DownloadMany(r) => {
            Box::pin(async move { ops::files::download_many(&ctx, r).await })
        }
        Request::Head(r) => Box::pin(async move { ops::meta::head(&ctx, r).await }),
        Request::Put(r) => Box::pin(async move { ops::put::put(&ctx, r).await }),
        Request::UploadMany(r) => Box::pin(async move { ops::files::upload_many(&ctx, r).await }),
        Request::Delete(r) => Box::pin(async move { ops::meta::delete(&ctx, r).await }),
        Request::MultipartStart(r) => Box::pin(async move { ops::multipart::start(&ctx, r).await }),
        Request::MultipartComplete(r) => {
            Box::pin(async move { ops::multipart::complete(&ctx, r).await })
        }
        Request::MultipartAbort(r) => Box::pin(async move { ops::multipart::abort(&ctx, r).await }),
        Request::List(r) => Box::pin(async move { ops::list::list(&ctx, r).await }),
        Request::ListNext(r) => Box::pin(async move { ops::list::list_next(&ctx, r).await }),
        Request::ListClose(r) => Box::pin(async move { ops::list::list_close(&ctx, r).await }),
        Request::BulkDelete(r) => Box::pin(async move { ops::meta::bulk_delete(&ctx, r).await }),
        Request::Copy(r) => Box::pin(async move { ops::meta::copy(&ctx, r).await }),
        Request::Rename(r) => Box::pin(async move { ops::meta::rename(&ctx, r).await }),
        Request::ReadOpen(r) => Box::pin(async move { ops::stream::read_open(&ctx, r).await }),
        Request::WriteOpen(r) => Box::pin(async move { ops::stream::write_open(&ctx, r).await }),
        Request::Sign(r) => Box::pin(async move { ops::sign::sign(&ctx, r).await }),
        Request::Metrics(_) => {
            let (http_requests, retries) = ctx.stores.http.snapshot();
            let answer = Success::Metrics {
                http_requests,
                retries,
                latency: ctx.latency.snapshot(),
                http_latency: ctx.stores.http.attempts.snapshot(),
                heap_bytes: crate::memory::heap_bytes(),
                rss_bytes: crate::memory::rss_bytes(),
            };
            Box::pin(async move { Ok(answer) })
        }
        // Handled before this in `dispatch`: register inline, stream commands by their stream.
        Request::Register(_)
        | Request::Credentials(_)
        | Request::Invalidate(_)
        | Request::Cancel(_)
        | Request::Ping(_)
        | Request::ReadNext(_)
        | Request::WriteChunk(_)
        | Request::ReadClose(_)
        | Request::WriteFinish(_)
        | Request::WriteAbort(_) => Box::pin(async {
            Err(ErrorInfo::new(
                Kind::Protocol,
                "request kind not dispatched here",
            ))
        }),
    }
}

/// Routes a stream command to its stream, or returns None for any other request.
fn stream_command(ctx: &Ctx, request: &Request) -> Option<Result<(), ErrorInfo>> {
    use ops::stream::{route, Command};
    let chunk = |r: &codec::StreamChunk| {
        let (offset, len) = ctx.arena.check(r.region)?;
        route(
            ctx,
            r.stream,
            Command::Chunk {
                id: r.id,
                offset,
                len,
            },
        )
    };
    Some(match request {
        Request::ReadNext(r) | Request::WriteChunk(r) => chunk(r),
        Request::WriteFinish(r) => route(ctx, r.stream, Command::Finish { id: r.id }),
        Request::ReadClose(r) | Request::WriteAbort(r) => {
            route(ctx, r.stream, Command::Abort { id: r.id })
        }
        _ => return None,
    })
}
