//! Read and write streams, with optional compression done here in the worker. One task per stream
//! owns its reader or writer; its commands arrive through a channel in frame order, so Python can
//! pipeline chunks.

use std::io::SeekFrom;
use std::sync::Arc;

use async_compression::tokio::bufread::{DeflateDecoder, GzipDecoder, ZlibDecoder, ZstdDecoder};
use async_compression::tokio::write::{DeflateEncoder, GzipEncoder, ZlibEncoder, ZstdEncoder};
use futures::TryStreamExt;
use object_store::buffered::BufWriter;
use object_store::GetResultPayload;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio_util::io::StreamReader;

use crate::codec::{self, StreamOpen, Success};
use crate::errors::{ErrorInfo, Kind};
use crate::ops::upload_writer::UploadWriter;
use crate::ops::{attributes, conditions, Ctx};
use crate::stores::Store;
use crate::sync::lock;

/// Below this a write stream ends in one put; above it, a multipart upload.
const WRITE_BUFFER: usize = 10 * 1024 * 1024;
const READ_BUFFER: usize = 256 * 1024;

pub enum Command {
    Chunk { id: u64, offset: usize, len: usize },
    Finish { id: u64 },
    Abort { id: u64 },
}

#[derive(Clone, Copy)]
enum Codec {
    Gzip,
    Deflate,
    Zlib,
    Zstd,
}

fn codec_of(name: Option<&str>) -> Result<Option<Codec>, ErrorInfo> {
    match name {
        None => Ok(None),
        Some("gzip") => Ok(Some(Codec::Gzip)),
        Some("deflate") => Ok(Some(Codec::Deflate)),
        Some("zlib") => Ok(Some(Codec::Zlib)),
        Some("zstd") => Ok(Some(Codec::Zstd)),
        Some(other) => Err(ErrorInfo::new(
            Kind::Config,
            format!("unknown compression {other:?}: use gzip, deflate, zlib or zstd"),
        )),
    }
}

type Reader = Box<dyn AsyncRead + Send + Unpin>;

fn decoder(codec: Option<Codec>, reader: Reader) -> Reader {
    let buffered = BufReader::with_capacity(READ_BUFFER, reader);
    match codec {
        None => Box::new(buffered),
        Some(Codec::Gzip) => {
            let mut d = GzipDecoder::new(buffered);
            d.multiple_members(true);
            Box::new(d)
        }
        Some(Codec::Deflate) => Box::new(DeflateDecoder::new(buffered)),
        Some(Codec::Zlib) => Box::new(ZlibDecoder::new(buffered)),
        Some(Codec::Zstd) => {
            let mut d = ZstdDecoder::new(buffered);
            d.multiple_members(true);
            Box::new(d)
        }
    }
}

/// A writer that can still reach the upload underneath, to abort it.
trait Sink: AsyncWrite + Send + Unpin {
    fn upload(&mut self) -> &mut UploadWriter;
}

impl Sink for UploadWriter {
    fn upload(&mut self) -> &mut UploadWriter {
        self
    }
}

macro_rules! encoder_sink {
    ($($encoder:ident),*) => {$(
        impl Sink for $encoder<UploadWriter> {
            fn upload(&mut self) -> &mut UploadWriter {
                self.get_mut()
            }
        }
    )*};
}
encoder_sink!(GzipEncoder, DeflateEncoder, ZlibEncoder, ZstdEncoder);

fn encoder(codec: Option<Codec>, upload: UploadWriter) -> Box<dyn Sink> {
    match codec {
        None => Box::new(upload),
        Some(Codec::Gzip) => Box::new(GzipEncoder::new(upload)),
        Some(Codec::Deflate) => Box::new(DeflateEncoder::new(upload)),
        Some(Codec::Zlib) => Box::new(ZlibEncoder::new(upload)),
        Some(Codec::Zstd) => Box::new(ZstdEncoder::new(upload)),
    }
}

fn io_error(store: &Store, path: &str, err: &std::io::Error) -> ErrorInfo {
    let inner = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<object_store::Error>());
    if let Some(inner) = inner {
        return store.error(inner);
    }
    let kind = match err.kind() {
        std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput => Kind::Data,
        std::io::ErrorKind::UnexpectedEof => Kind::EarlyEof,
        _ => Kind::Unknown,
    };
    store.redact(ErrorInfo::new(kind, format!("{path}: {err}")))
}

fn send(ctx: &Ctx, id: u64, result: &Result<Success, ErrorInfo>) {
    let _ = ctx.out.send(codec::encode_response(id, result));
}

fn register(ctx: &Ctx) -> (u64, mpsc::UnboundedReceiver<Command>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = ctx.new_handle();
    lock(&ctx.streams).insert(handle, tx);
    (handle, rx)
}

/// Hands a command to its stream's task, in frame order (called from the read loop).
pub fn route(ctx: &Ctx, stream: u64, command: Command) -> Result<(), ErrorInfo> {
    let sent = lock(&ctx.streams)
        .get(&stream)
        .map(|tx| tx.send(command).is_ok());
    match sent {
        Some(true) => Ok(()),
        _ => Err(ErrorInfo::new(
            Kind::Protocol,
            format!("no open stream {stream}"),
        )),
    }
}

pub async fn read_open(ctx: &Arc<Ctx>, r: StreamOpen) -> Result<Success, ErrorInfo> {
    let codec = codec_of(r.codec.as_deref())?;
    let store = ctx.stores.get(r.store)?;
    let path = store.key(&r.path)?;
    let options = conditions::options(r.when, &store, &r.path)?;
    let result = store
        .inner
        .get_opts(&path, options.clone())
        .await
        .map_err(|e| store.error(&e))?;
    conditions::check_version(&options.version, &result.meta, &r.path)?;
    let meta = attributes::read_meta(&result);
    let range = result.range.clone();
    let raw: Reader = match result.payload {
        GetResultPayload::File(file, _) => {
            // Straight from the file: object_store's own file stream reads 8 KiB at a time.
            let mut file = tokio::fs::File::from_std(file);
            file.seek(SeekFrom::Start(range.start))
                .await
                .map_err(|e| io_error(&store, &r.path, &e))?;
            Box::new(file.take(range.end - range.start))
        }
        GetResultPayload::Stream(stream) => {
            Box::new(StreamReader::new(stream.map_err(std::io::Error::other)))
        }
    };
    let reader = decoder(codec, raw);
    let (handle, commands) = register(ctx);
    tokio::spawn(read_task(
        Arc::clone(ctx),
        handle,
        store,
        r.path,
        reader,
        commands,
    ));
    Ok(Success::ReadOpen {
        stream: handle,
        meta,
    })
}

async fn fill(
    ctx: &Ctx,
    reader: &mut Reader,
    offset: usize,
    len: usize,
    eof: &mut bool,
) -> std::io::Result<usize> {
    let mut got = 0;
    while got < len && !*eof {
        let n = reader
            .read(ctx.arena.region_mut(offset + got, len - got))
            .await?;
        if n == 0 {
            *eof = true;
        }
        got += n;
    }
    Ok(got)
}

async fn read_task(
    ctx: Arc<Ctx>,
    handle: u64,
    store: Arc<Store>,
    path: String,
    mut reader: Reader,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let mut eof = false;
    while let Some(command) = commands.recv().await {
        match command {
            Command::Chunk { id, offset, len } => {
                let result = fill(&ctx, &mut reader, offset, len, &mut eof)
                    .await
                    .map(|n| Success::Read {
                        written: n as u64,
                        eof,
                    })
                    .map_err(|e| io_error(&store, &path, &e));
                send(&ctx, id, &result);
            }
            Command::Finish { id } | Command::Abort { id } => {
                send(&ctx, id, &Ok(Success::Empty));
                break;
            }
        }
    }
    lock(&ctx.streams).remove(&handle);
}

pub async fn write_open(ctx: &Arc<Ctx>, r: StreamOpen) -> Result<Success, ErrorInfo> {
    let codec = codec_of(r.codec.as_deref())?;
    let store = ctx.stores.get(r.store)?;
    let path = store.key(&r.path)?;
    let (attributes, tags) = attributes::write_options(&store, r.attached)?;
    let upload = BufWriter::with_capacity(Arc::clone(&store.inner), path, WRITE_BUFFER)
        .with_attributes(attributes)
        .with_tags(tags);
    let sink = encoder(codec, UploadWriter::new(upload));
    let (handle, commands) = register(ctx);
    tokio::spawn(write_task(
        Arc::clone(ctx),
        handle,
        store,
        r.path,
        sink,
        commands,
    ));
    Ok(Success::Stream { stream: handle })
}

async fn write_task(
    ctx: Arc<Ctx>,
    handle: u64,
    store: Arc<Store>,
    path: String,
    mut sink: Box<dyn Sink>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    // Counted from the start: at EOF the commands end, and the upload is aborted below.
    let _cleanup = ctx.cleanups.start();
    let mut failed: Option<ErrorInfo> = None;
    let mut done = false;
    while let Some(command) = commands.recv().await {
        match command {
            Command::Chunk { id, offset, len } => {
                let result = match &failed {
                    Some(e) => Err(e.clone()),
                    None => sink
                        .write_all(ctx.arena.slice(offset, len))
                        .await
                        .map(|()| Success::Empty)
                        .map_err(|e| io_error(&store, &path, &e)),
                };
                if let Err(e) = &result {
                    failed = Some(e.clone());
                }
                send(&ctx, id, &result);
            }
            Command::Finish { id } => {
                let result = match failed.take() {
                    Some(e) => Err(e),
                    None => sink
                        .shutdown()
                        .await
                        .map(|()| Success::Put {
                            e_tag: None,
                            version: None,
                        })
                        .map_err(|e| io_error(&store, &path, &e)),
                };
                if result.is_err() {
                    let _ = sink.upload().abort().await;
                }
                send(&ctx, id, &result);
                done = true;
                break;
            }
            Command::Abort { id } => {
                let result = sink
                    .upload()
                    .abort()
                    .await
                    .map(|()| Success::Empty)
                    .map_err(|e| store.error(&e));
                send(&ctx, id, &result);
                done = true;
                break;
            }
        }
    }
    if !done {
        // The connection went away mid-stream: leave no upload behind.
        let _ = sink.upload().abort().await;
    }
    lock(&ctx.streams).remove(&handle);
}
