//! Fault injection for the tests (cargo feature `fault-injection`; release wheels are built without it,
//! and the handshake lists it among the features when it is on).
//!
//! A request whose key starts with `__fault__/<fault>/` runs that fault before its work, inside its
//! task: `panic`, `abort`, `exit` (status 0), `hang`, `sleep/<ms>`, `garbage` (an undecodable frame),
//! `truncated` (a frame whose map is cut short), `oversize` (a frame over the limit) (these three
//! instead of an answer: the request then never finishes), `stdout` (stray
//! prints), `stderr/<MiB>` (a flood), `alloc/<MiB>` (allocate and touch). The request then runs as
//! usual with its whole key.

use futures::future::BoxFuture;
use tokio::sync::mpsc;

use crate::codec::Request;

#[cfg(not(feature = "fault-injection"))]
pub fn prelude(
    _request: &Request,
    _out: &mpsc::UnboundedSender<Vec<u8>>,
) -> Option<BoxFuture<'static, ()>> {
    None
}

#[cfg(feature = "fault-injection")]
pub fn prelude(
    request: &Request,
    out: &mpsc::UnboundedSender<Vec<u8>>,
) -> Option<BoxFuture<'static, ()>> {
    use std::io::Write;
    use std::time::Duration;

    use crate::codec::MAX_FRAME;

    let key = match request {
        Request::Get(r) => &r.path,
        Request::Download(r) => &r.path,
        Request::DownloadPart(r) => &r.path,
        Request::Put(r) => &r.path,
        Request::Head(r) => &r.path,
        Request::Delete(r) => &r.path,
        Request::MultipartStart(r) => &r.path,
        Request::ReadOpen(r) | Request::WriteOpen(r) => &r.path,
        Request::Copy(r) | Request::Rename(r) => &r.from,
        _ => return None,
    };
    let mut words = key.strip_prefix("__fault__/")?.split('/');
    let fault = words.next().unwrap_or_default().to_owned();
    let number: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(1);
    let out = out.clone();
    Some(Box::pin(async move {
        match fault.as_str() {
            "panic" => panic!("injected panic"),
            "abort" => std::process::abort(),
            "exit" => std::process::exit(0),
            "hang" => std::future::pending::<()>().await,
            "sleep" => tokio::time::sleep(Duration::from_millis(number)).await,
            // A bad frame instead of the answer: the request then waits for the end Python gives it.
            "garbage" => {
                let _ = out.send(b"\xc1 this is not msgpack".to_vec());
                std::future::pending::<()>().await
            }
            "truncated" => {
                let _ = out.send(vec![0x83, 0xa2, b'i', b'd']);
                std::future::pending::<()>().await
            }
            "oversize" => {
                let _ = out.send(vec![0x80; MAX_FRAME + 1]);
                std::future::pending::<()>().await
            }
            "stdout" => {
                for i in 0..1000 {
                    println!("a dependency printing to stdout, line {i}");
                }
            }
            "stderr" => {
                let line = [b'e'; 1023];
                let mut err = std::io::stderr().lock();
                for _ in 0..number * 1024 {
                    let _ = err.write_all(&line).and_then(|()| err.write_all(b"\n"));
                }
            }
            "alloc" => {
                let block = vec![1u8; (number as usize) << 20];
                std::hint::black_box(&block);
            }
            _ => {}
        }
    }))
}
