//! The rustyobjectstore worker: object_store behind length-prefixed msgpack frames on stdin/stdout,
//! payloads in a shared arena. protocol.md is the contract.

mod arena;
mod args;
mod azure_commit;
mod azure_tags;
mod codec;
mod credentials;
mod errors;
mod faults;
#[cfg(test)]
mod fuzz;
mod ids;
mod latency;
mod local_walk;
mod memory;
mod metrics;
mod ops;
mod server;
mod snowflake;
mod stores;
mod sync;
mod tls;
#[cfg(test)]
mod vectors;
mod wrapping;

use std::fs::File;
use std::os::fd::FromRawFd;
use std::time::Duration;

use crate::args::Args;
use crate::server::{End, Server};
use crate::stores::{CacheSettings, Stores};

/// Moves the protocol output off fd 1 and points fd 1 at stderr, so that a stray print from any
/// dependency lands in stderr instead of corrupting the frame stream.
fn protocol_output() -> std::io::Result<File> {
    // SAFETY: plain fd calls on fds this process owns; the new fd is owned by the returned File.
    unsafe {
        let fd = libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3);
        if fd < 0 || libc::dup2(2, 1) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(File::from_raw_fd(fd))
    }
}

fn run() -> Result<i32, String> {
    let args = Args::parse(std::env::args().skip(1))?;
    let output = protocol_output().map_err(|e| format!("cannot set up stdout: {e}"))?;
    let arena = arena::Arena::from_fd(args.arena_fd, args.arena_size)
        .map_err(|e| format!("cannot map the arena: {e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("rustyobjectstore-worker")
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let output = server::output(output);
    let direct = std::sync::Arc::clone(&output);
    let writer = std::thread::Builder::new()
        .name("writer".into())
        .spawn(move || server::write_loop(rx, output))
        .map_err(|e| format!("cannot start the writer: {e}"))?;
    let _ = tx.send(codec::encode_hello(arena.len(), args.concurrency as u64));
    let stores = Stores::new(CacheSettings {
        capacity: args.cache_capacity,
        ttl: Duration::from_secs(args.cache_ttl_secs),
        tti: Duration::from_secs(args.cache_tti_secs),
    });
    let server = Server::new(
        ops::Ctx::new(arena, stores, tx.clone()),
        runtime.handle().clone(),
        tx,
        direct,
        args.concurrency,
    );
    let end = server.run(std::io::stdin().lock());
    if matches!(end, End::Eof) {
        // Python waits 5 s for the exit before it kills the worker.
        server.wind_down(Duration::from_secs(3));
    }
    // Let the writer send what is queued (the protocol error above all), then stop at once: work still
    // in flight has no one to answer to.
    drop(server);
    runtime.shutdown_background();
    // Downloads cut off here remove their temp files once their file work ends: a moment.
    ops::files::wait_for_temp_files(Duration::from_secs(2));
    let _ = writer.join();
    Ok(match end {
        End::Eof => 0,
        End::Protocol(message) => {
            eprintln!("rustyobjectstore-worker: protocol error: {message}");
            3
        }
    })
}

/// The heap, counted: `metrics` reports the worker's live native memory.
#[global_allocator]
static ALLOCATOR: memory::Counting = memory::Counting;

fn main() {
    // A panic anywhere ends the worker, as with `panic = "abort"` (which would cost `cargo test` its
    // shared build): the pool sees the crash and replaces the worker, instead of a task that died
    // silently and left its caller waiting.
    // A file-size limit (RLIMIT_FSIZE) makes a write fail with EFBIG, like a full disk, instead of
    // killing the worker with SIGXFSZ. SAFETY: setting a signal to SIG_IGN at start, before threads.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    tls::install();
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::abort();
    }));
    match run() {
        Ok(code) => std::process::exit(code),
        Err(message) => {
            eprintln!("rustyobjectstore-worker: {message}");
            std::process::exit(2);
        }
    }
}
