//! `download` and `download_many`: objects into local files, written by the worker itself; and
//! `upload_many`, small local files into objects, read by the worker itself. The
//! files' creation, their bytes and their renames happen on the worker's blocking threads, off
//! Python's one thread, and a tree of small files costs Python one request a batch. The bytes go
//! into a new temp file that is renamed over the target only once whole, so a reader never sees
//! a partial file; a download that fails or is cancelled removes its temp file.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use object_store::{GetResultPayload, PutPayload};

use crate::codec::{
    Conditions, DownloadManyRequest, DownloadPartRequest, DownloadRequest, Meta, Success,
    UploadFile, UploadManyRequest,
};
use crate::errors::{ErrorInfo, Kind};
use crate::ops::Ctx;
use crate::ops::{get, put};
use crate::stores::Store;

/// Bytes gathered from the body before one write: a small object is one write, a big one is
/// written as it comes, with at most this much held.
const BATCH: usize = 1024 * 1024;

/// File work at once. Creating many files at once in one directory makes the kernel's threads
/// spin on the directory's lock: a tree of 10,000 small files took more CPU on 512 blocking
/// threads than on a few.
static FILE_WORK: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(FILE_THREADS);
const FILE_THREADS: usize = 4;

/// Temp files created and not yet renamed or removed; the worker waits for them at its exit.
static OPEN_TEMPS: AtomicUsize = AtomicUsize::new(0);

pub async fn download(ctx: &Ctx, r: DownloadRequest) -> Result<Success, ErrorInfo> {
    if r.limit == 0 {
        return Err(ErrorInfo::new(Kind::Protocol, "a download's limit is 0"));
    }
    let store = ctx.stores.get(r.store)?;
    let file = [r.path, r.temp, r.target];
    let mode = new_file_mode();
    let (size, start, written, meta) =
        into_file(&store, &file, r.limit, r.fsync, mode, r.when).await?;
    Ok(Success::Get {
        size,
        start,
        written,
        meta,
    })
}

/// Many objects, each into its own file, at once: one request for a batch of small downloads.
/// Each is written whole, whatever its size; one that fails is listed and the others go on.
pub async fn download_many(ctx: &Ctx, r: DownloadManyRequest) -> Result<Success, ErrorInfo> {
    let store = ctx.stores.get(r.store)?;
    let store = &store;
    let mode = new_file_mode();
    let results = futures::future::join_all(r.files.iter().map(|file| async move {
        let (_, _, written, _) =
            into_file(store, file, u64::MAX, r.fsync, mode, Conditions::default()).await?;
        Ok(written)
    }))
    .await;
    Ok(sizes(results))
}

/// Many local files into objects at once, each read whole here and stored by one put: one
/// request for a batch of small uploads, none of whose bytes pass through Python or the arena.
/// At most `limit` bytes a file, so a batch holds at most its files times `limit` in memory. One
/// that fails is listed and the others go on.
pub async fn upload_many(ctx: &Ctx, r: UploadManyRequest) -> Result<Success, ErrorInfo> {
    let store = ctx.stores.get(r.store)?;
    let store = &store;
    let mode = r.mode.as_deref();
    put::put_mode(mode, None, None)?; // a bad mode fails the request, before any file is read
    let limit = r.limit;
    let results = futures::future::join_all(r.files.into_iter().map(|file| async move {
        let UploadFile {
            file,
            path,
            attached,
        } = file;
        let data = read_whole(PathBuf::from(file), limit).await?;
        let size = data.len() as u64;
        let mode = put::put_mode(mode, None, None)?;
        put::store_bytes(store, &path, PutPayload::from(data), mode, attached).await?;
        Ok(size)
    }))
    .await;
    Ok(sizes(results))
}

/// A batch's answer: the bytes each file moved (0 for a failed one), and the failures by index.
fn sizes(results: Vec<Result<u64, ErrorInfo>>) -> Success {
    let mut sizes = Vec::with_capacity(results.len());
    let mut failed = Vec::new();
    for (index, result) in results.into_iter().enumerate() {
        match result {
            Ok(size) => sizes.push(size),
            Err(error) => {
                sizes.push(0);
                failed.push((index as u64, error));
            }
        }
    }
    Success::Sizes { sizes, failed }
}

/// A local file's bytes, read on a blocking thread; more than `limit` of them is an error.
async fn read_whole(file: PathBuf, limit: u64) -> Result<Bytes, ErrorInfo> {
    blocking(move || {
        let opened = File::open(&file).map_err(failed("opening it", &file))?;
        let mut data = Vec::new();
        opened
            .take(limit.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(failed("reading it", &file))?;
        if data.len() as u64 > limit {
            let too_big = std::io::Error::from_raw_os_error(libc::EFBIG);
            let doing = format!("it has grown past {limit} bytes since it was listed");
            return Err(ErrorInfo::local_file(&too_big, &doing, &file));
        }
        Ok(Bytes::from(data))
    })
    .await
}

/// The permissions a new file of the caller's would get: 0666 less the umask of the process that
/// started the worker, read now, since a program may change its umask as it runs (reading ours
/// would mean setting it). Where the system does not say (no `/proc`), the umask the worker was
/// started with applies.
fn new_file_mode() -> Option<u32> {
    let status = std::fs::read_to_string(format!(
        "/proc/{}/status",
        std::os::unix::process::parent_id()
    ))
    .ok()?;
    let umask = status
        .lines()
        .find_map(|line| line.strip_prefix("Umask:"))?;
    Some(0o666 & !u32::from_str_radix(umask.trim(), 8).ok()?)
}

/// The object `file[0]` into a new temp file `file[1]`, renamed over the target `file[2]` once
/// whole (synced first with `fsync`); a new file's permissions are `mode` when known. An object
/// over `limit` bytes has its first `limit` written and the temp file handed to the caller, who
/// fetches the rest. Answers the object's size, where the read started, the bytes written and
/// the meta.
async fn into_file(
    store: &Store,
    file: &[String; 3],
    limit: u64,
    fsync: bool,
    mode: Option<u32>,
    when: Conditions,
) -> Result<(u64, u64, u64, Meta), ErrorInfo> {
    let [key, temp, target] = file;
    let opened = get::open(store, key, None, None, when).await?;
    let (size, start) = (opened.size, opened.start);
    let want = size.min(limit);
    let temp = Temp::new(PathBuf::from(temp), PathBuf::from(target), mode);
    let body = opened.result.payload;
    let settle = move |temp: Temp| temp.settle(want == size, fsync);
    write_body(store, key, body, temp, (start, want, size), settle).await?;
    Ok((size, start, want, opened.meta))
}

/// The first `want` bytes of a read's body (`size` bytes from `from` in the object) into `sink`,
/// then `finish` on the same trip to a blocking thread as the last bytes (for a small file, the
/// one trip: its creation, bytes and rename).
async fn write_body<S: Sink>(
    store: &Store,
    key: &str,
    body: GetResultPayload,
    sink: S,
    (from, want, size): (u64, u64, u64),
    finish: impl FnOnce(S) -> Result<(), ErrorInfo> + Send + 'static,
) -> Result<(), ErrorInfo> {
    match body {
        GetResultPayload::File(source, _) => {
            let mut sink = sink;
            blocking(move || {
                sink.copy_from(&source, from, want)?;
                finish(sink)
            })
            .await
        }
        GetResultPayload::Stream(stream) => {
            let (mut sink, rest) = into_sink(store, key, stream, sink, want, size).await?;
            blocking(move || {
                sink.put(rest)?;
                finish(sink)
            })
            .await
        }
    }
}

/// Where a body's bytes are written, at offsets from the body's start; moved to a blocking thread
/// for each write.
trait Sink: Send + 'static {
    fn write(&mut self, at: u64, bytes: &[u8]) -> Result<(), ErrorInfo>;

    /// The pieces in one system call: a copy into one buffer costs less than a call.
    fn put(&mut self, (at, pieces): Pending) -> Result<(), ErrorInfo> {
        match pieces.as_slice() {
            [one] => self.write(at, one),
            _ => self.write(at, &pieces.concat()),
        }
    }

    /// The `want` bytes of a local store's file from `from` on.
    fn copy_from(&mut self, source: &File, from: u64, want: u64) -> Result<(), ErrorInfo> {
        let mut buffer = vec![0u8; BATCH.min(want as usize)];
        let mut at = 0u64;
        self.write(0, &[])?; // an empty object's file too
        while at < want {
            let n = buffer.len().min((want - at) as usize);
            let read = source.read_at(&mut buffer[..n], from + at).map_err(|e| {
                ErrorInfo::new(Kind::Unknown, format!("reading the stored file: {e}"))
            })?;
            if read == 0 {
                return Err(ErrorInfo::new(
                    Kind::EarlyEof,
                    format!("the stored file ended after {at} of {want} bytes"),
                ));
            }
            self.write(at, &buffer[..read])?;
            at += read as u64;
        }
        Ok(())
    }
}

/// Bytes read but not written yet, and where they go.
type Pending = (u64, Vec<Bytes>);

/// The first `want` bytes of `stream` (a body of `size` bytes) into `sink` from offset 0, written
/// `BATCH` bytes at a time; the last batch is left to the caller, who may add work to its trip.
async fn into_sink<S: Sink>(
    store: &Store,
    key: &str,
    mut stream: futures::stream::BoxStream<'static, object_store::Result<Bytes>>,
    mut sink: S,
    want: u64,
    size: u64,
) -> Result<(S, Pending), ErrorInfo> {
    let (mut batch, mut held, mut got) = (Vec::new(), 0usize, 0u64);
    while got < want {
        let Some(chunk) = stream.next().await else {
            return Err(get::early_eof(key, got, size));
        };
        let chunk = chunk.map_err(|e| store.error(&e))?;
        let take = chunk.len().min((want - got) as usize);
        held += take;
        got += take as u64;
        batch.push(chunk.slice(..take));
        if held >= BATCH && got < want {
            let pending = (got - held as u64, std::mem::take(&mut batch));
            sink = blocking(move || {
                sink.put(pending)?;
                Ok(sink)
            })
            .await?;
            held = 0;
        }
    }
    Ok((sink, (got - held as u64, batch)))
}

/// Bytes `range` of an object into the existing file `file`, at their offsets in the object:
/// the parts of a big download after its first, into the temp file that `download` handed over.
pub async fn download_part(ctx: &Ctx, r: DownloadPartRequest) -> Result<Success, ErrorInfo> {
    let (start, end) = r.range;
    if start >= end {
        let what = format!("empty or reversed range [{start}, {end})");
        return Err(ErrorInfo::new(Kind::Protocol, what));
    }
    let store = ctx.stores.get(r.store)?;
    let opened = get::open(&store, &r.path, Some((start, Some(end))), None, r.when).await?;
    let (size, from) = (opened.size, opened.start);
    let target = PathBuf::from(&r.target);
    let file = PathBuf::from(&r.file);
    let part = blocking(move || {
        let file = OpenOptions::new()
            .write(true)
            .open(&file)
            .map_err(failed("opening its temp file", &target))?;
        Ok(Part {
            file,
            target,
            start: from,
        })
    })
    .await?;
    let body = opened.result.payload;
    write_body(&store, &r.path, body, part, (from, size, size), |_| Ok(())).await?;
    Ok(Success::Get {
        size,
        start: from,
        written: size,
        meta: opened.meta,
    })
}

/// A part's bytes, at their place in the file (`start`: where the part begins).
struct Part {
    file: File,
    target: PathBuf,
    start: u64,
}

impl Sink for Part {
    fn write(&mut self, at: u64, bytes: &[u8]) -> Result<(), ErrorInfo> {
        write_at(&self.file, self.start + at, bytes, &self.target)
    }
}

fn write_at(file: &File, at: u64, bytes: &[u8], target: &Path) -> Result<(), ErrorInfo> {
    file.write_all_at(bytes, at)
        .map_err(failed(&format!("writing at byte {at}"), target))
}

/// Runs file work on a blocking thread. A cancelled download drops the handle: the work still
/// ends, and the `Temp` it returns is dropped then, which removes the file.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ErrorInfo> + Send + 'static,
) -> Result<T, ErrorInfo> {
    let _turn = FILE_WORK
        .acquire()
        .await
        .map_err(|e| ErrorInfo::new(Kind::Unknown, format!("file work: {e}")))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ErrorInfo::new(Kind::Unknown, format!("a file task failed: {e}")))?
}

/// The temp file a download writes, created at its first write. Dropped before it is renamed or
/// handed over, it is removed.
struct Temp {
    path: PathBuf,
    target: PathBuf,
    /// The permissions of a new file, when the caller's umask is known.
    mode: Option<u32>,
    file: Option<File>,
}

impl Temp {
    fn new(path: PathBuf, target: PathBuf, mode: Option<u32>) -> Temp {
        Temp {
            path,
            target,
            mode,
            file: None,
        }
    }

    /// The file (created on first use: new, never an existing one, with the caller's
    /// permissions), and the target its errors name.
    fn file(&mut self) -> Result<(&File, &Path), ErrorInfo> {
        if self.file.is_none() {
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o666)
                .open(&self.path)
                .map_err(failed("creating a temp file beside it", &self.target))?;
            OPEN_TEMPS.fetch_add(1, Ordering::SeqCst);
            self.file = Some(file);
            if let (Some(mode), Some(file)) = (self.mode, &self.file) {
                file.set_permissions(std::fs::Permissions::from_mode(mode))
                    .map_err(failed("setting its permissions", &self.target))?;
            }
        }
        match &self.file {
            Some(file) => Ok((file, &self.target)),
            None => Err(ErrorInfo::new(Kind::Unknown, "the temp file vanished")),
        }
    }

    /// A `whole` file replaces the target; else it is the caller's, who fetches the rest of the
    /// object into it.
    fn settle(self, whole: bool, fsync: bool) -> Result<(), ErrorInfo> {
        if whole {
            self.finish(fsync)
        } else {
            self.hand_over()
        }
    }

    /// Renames the whole file over the target (synced first with `fsync`). A replaced file's
    /// permissions are kept.
    fn finish(mut self, fsync: bool) -> Result<(), ErrorInfo> {
        let (file, target) = self.file()?;
        if fsync {
            file.sync_all()
                .map_err(failed("syncing it to disk", target))?;
        }
        if let Ok(old) = std::fs::metadata(target) {
            let mode = old.permissions().mode() & 0o7777;
            file.set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(failed("keeping its permissions", target))?;
        }
        std::fs::rename(&self.path, &self.target)
            .map_err(failed("renaming it into place", &self.target))?;
        self.settled();
        Ok(())
    }

    fn hand_over(mut self) -> Result<(), ErrorInfo> {
        self.file()?;
        self.settled();
        Ok(())
    }

    fn settled(&mut self) {
        if self.file.take().is_some() {
            OPEN_TEMPS.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn failed<'a>(doing: &'a str, target: &'a Path) -> impl Fn(std::io::Error) -> ErrorInfo + 'a {
    move |e| ErrorInfo::local_file(&e, doing, target)
}

impl Sink for Temp {
    fn write(&mut self, at: u64, bytes: &[u8]) -> Result<(), ErrorInfo> {
        let (file, target) = self.file()?;
        write_at(file, at, bytes, target)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.path);
            OPEN_TEMPS.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Waits, up to `limit`, until no download holds a temp file: at exit, downloads cut off by the
/// runtime's shutdown remove theirs as their file work ends.
pub fn wait_for_temp_files(limit: Duration) {
    let end = Instant::now() + limit;
    while OPEN_TEMPS.load(Ordering::SeqCst) > 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "ros-files-{}-{}",
            std::process::id(),
            OPEN_TEMPS.load(Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[test]
    fn a_dropped_temp_file_is_removed_and_a_finished_one_replaces_the_target() {
        let dir = dir().join("a");
        std::fs::create_dir_all(&dir).expect("dir");
        let target = dir.join("target");
        std::fs::write(&target, b"old").expect("old");
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).expect("mode");

        let mut dropped = Temp::new(dir.join(".t1"), target.clone(), None);
        dropped.write(0, b"half").expect("write");
        assert!(dir.join(".t1").exists());
        drop(dropped);
        assert!(!dir.join(".t1").exists());
        assert_eq!(std::fs::read(&target).expect("read"), b"old");

        let mut done = Temp::new(dir.join(".t2"), target.clone(), Some(0o640));
        let pieces = vec![Bytes::from_static(b"new "), Bytes::from_static(b"bytes")];
        done.put((0, pieces)).expect("write");
        done.finish(true).expect("finish");
        assert_eq!(std::fs::read(&target).expect("read"), b"new bytes");
        let mode = std::fs::metadata(&target)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!dir.join(".t2").exists());

        let fresh = dir.join("fresh");
        let mut new = Temp::new(dir.join(".t3"), fresh.clone(), Some(0o640));
        new.write(0, b"x").expect("write");
        new.finish(false).expect("finish");
        let mode = std::fs::metadata(&fresh)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640);
        std::fs::remove_dir_all(&dir).expect("clean");
    }

    #[test]
    fn an_existing_temp_name_is_refused_not_overwritten() {
        let dir = dir().join("b");
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join(".t"), b"someone's").expect("write");
        let mut temp = Temp::new(dir.join(".t"), dir.join("target"), None);
        let error = temp.write(0, b"x").expect_err("refused");
        assert_eq!(error.kind, Kind::LocalFile);
        assert_eq!(error.local_file.as_ref().map(|f| f.0), Some(libc::EEXIST));
        drop(temp);
        assert_eq!(std::fs::read(dir.join(".t")).expect("kept"), b"someone's");
        std::fs::remove_dir_all(&dir).expect("clean");
    }
}
