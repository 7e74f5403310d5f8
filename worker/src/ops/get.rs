//! `get`: the object, or a range of it, written straight into the request's region.

use std::os::unix::fs::FileExt;
use std::sync::Arc;

use futures::StreamExt;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, GetResult, GetResultPayload, ObjectStore};

use crate::codec::{Conditions, GetRequest, Meta, Success};
use crate::errors::{ErrorInfo, Kind};
use crate::ops::{attributes, conditions, Ctx};
use crate::stores::Store;

pub async fn get(ctx: &Ctx, r: GetRequest) -> Result<Success, ErrorInfo> {
    let (offset, capacity) = ctx.arena.check(r.region)?;
    let store = ctx.stores.get(r.store)?;
    let Opened {
        result,
        meta,
        size,
        start,
    } = open(&store, &r.path, r.range, r.suffix, r.when).await?;
    if r.whole && size > capacity as u64 {
        // Python reports a too-small buffer with the size; reading the body would be wasted.
        return Ok(Success::Get {
            size,
            start,
            written: 0,
            meta,
        });
    }
    let want = size.min(capacity as u64) as usize;
    match result.payload {
        GetResultPayload::File(file, _) => {
            let arena = Arc::clone(&ctx.arena);
            let guard = arena.guard(offset); // the read goes on if the request is cancelled
            let read = tokio::task::spawn_blocking(move || {
                let _guard = guard;
                file.read_exact_at(arena.region_mut(offset, want), start)
            })
            .await
            .map_err(|e| ErrorInfo::new(Kind::Unknown, format!("file read task failed: {e}")))?;
            read.map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => early_eof(&r.path, 0, size),
                _ => ErrorInfo::new(Kind::Unknown, format!("{}: {e}", r.path)),
            })?;
        }
        GetResultPayload::Stream(mut stream) => {
            let mut got = 0usize;
            while got < want {
                let Some(chunk) = stream.next().await else {
                    return Err(early_eof(&r.path, got as u64, size));
                };
                let chunk = chunk.map_err(|e| store.error(&e))?;
                let take = chunk.len().min(want - got);
                ctx.arena.write(offset + got, &chunk[..take]);
                got += take;
            }
        }
    }
    Ok(Success::Get {
        size,
        start,
        written: want as u64,
        meta,
    })
}

/// A body that ended before the `size` bytes its answer announced.
pub fn early_eof(key: &str, got: u64, size: u64) -> ErrorInfo {
    ErrorInfo::new(
        Kind::EarlyEof,
        format!("{key}: the body ended after {got} of {size} bytes"),
    )
}

/// A read's answer before its body: the body to come, the object's meta, how many bytes the server
/// returns and where in the object they start.
pub struct Opened {
    pub result: GetResult,
    pub meta: Meta,
    pub size: u64,
    pub start: u64,
}

/// Sends a read of `key` (its `range` or last `suffix` bytes, under the conditions `when`) and
/// waits for the answer's head; `get` and `download` share it.
pub async fn open(
    store: &Store,
    key: &str,
    range: Option<(u64, Option<u64>)>,
    suffix: Option<u64>,
    when: Conditions,
) -> Result<Opened, ErrorInfo> {
    let path = store.key(key)?;
    let options = GetOptions {
        range: byte_range(range, suffix)?,
        ..conditions::options(when, store, key)?
    };
    let version = options.version.clone();
    let result = match store.inner.get_opts(&path, options.clone()).await {
        Err(e) if options.range.is_some() && needs_the_size(&e) => {
            by_head(&store.inner, &path, options, e).await
        }
        other => other,
    }
    .map_err(|e| store.error(&e))?;
    conditions::check_version(&version, &result.meta, key)?;
    let meta = attributes::read_meta(&result);
    Ok(Opened {
        meta,
        size: result.range.end - result.range.start,
        start: result.range.start,
        result,
    })
}

/// What object_store says of a range answer to a range of an empty object, which has no byte to
/// start at: S3 servers ignore the range and send the whole object; Azurite answers with
/// "Content-Range: bytes 0--1/0".
const EMPTY_OBJECT_ANSWERS: [&str; 2] = [
    "Received non-partial response when range requested",
    "Failed to parse value for CONTENT_RANGE header",
];

/// A ranged read that the backend refused for want of the object's size: a suffix where it has no
/// suffix requests (Azure), any range of an empty object on an S3 server.
fn needs_the_size(error: &object_store::Error) -> bool {
    let text = error.to_string();
    matches!(error, object_store::Error::NotSupported { .. })
        || EMPTY_OBJECT_ANSWERS
            .iter()
            .any(|answer| text.contains(answer))
}

/// Such a read again, once a head has told the size: an empty object is read whole, a suffix as
/// the bounded range, pinned to the head's e_tag so a change between the two is a precondition
/// error, not a splice; anything else keeps its first error.
async fn by_head(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    mut options: GetOptions,
    error: object_store::Error,
) -> object_store::Result<GetResult> {
    let head = GetOptions {
        head: true,
        version: options.version.clone(),
        ..GetOptions::default()
    };
    let meta = store.get_opts(path, head).await?.meta;
    options.range = match options.range {
        _ if meta.size == 0 => None,
        Some(GetRange::Suffix(n)) => {
            Some(GetRange::Bounded(meta.size.saturating_sub(n)..meta.size))
        }
        _ => return Err(error),
    };
    if options.if_match.is_none() {
        options.if_match = meta.e_tag;
    }
    store.get_opts(path, options).await
}

/// The request's `range` or `suffix` as object_store's range; an empty, reversed or doubly given
/// one is a protocol error (Python sends none of them).
fn byte_range(
    range: Option<(u64, Option<u64>)>,
    suffix: Option<u64>,
) -> Result<Option<GetRange>, ErrorInfo> {
    let refuse = |what: String| Err(ErrorInfo::new(Kind::Protocol, what));
    match (range, suffix) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => refuse("a get takes a range or a suffix, not both".into()),
        (None, Some(0)) => refuse("an empty suffix".into()),
        (None, Some(n)) => Ok(Some(GetRange::Suffix(n))),
        (Some((start, None)), None) => Ok(Some(GetRange::Offset(start))),
        (Some((start, Some(end))), None) if start >= end => {
            refuse(format!("empty or reversed range [{start}, {end})"))
        }
        (Some((start, Some(end))), None) => Ok(Some(GetRange::Bounded(start..end))),
    }
}
