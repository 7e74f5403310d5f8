//! `get`: the object, or a range of it, written straight into the request's region.

use std::os::unix::fs::FileExt;
use std::sync::Arc;

use futures::StreamExt;
use object_store::{GetOptions, GetRange, GetResultPayload};

use crate::codec::{GetRequest, Meta, Success};
use crate::errors::{ErrorInfo, Kind};
use crate::ops::Ctx;

pub async fn get(ctx: &Ctx, r: GetRequest) -> Result<Success, ErrorInfo> {
    let (offset, capacity) = ctx.arena.check(r.region)?;
    let store = ctx.stores.get(r.store)?;
    let path = store.key(&r.path)?;
    if let Some((start, end)) = r.range {
        if start >= end {
            return Err(ErrorInfo::new(
                Kind::Protocol,
                format!("empty or reversed range [{start}, {end})"),
            ));
        }
    }
    let options = GetOptions {
        range: r.range.map(|(start, end)| GetRange::Bounded(start..end)),
        if_match: r.if_match,
        ..GetOptions::default()
    };
    let result = store
        .inner
        .get_opts(&path, options)
        .await
        .map_err(|e| store.error(&e))?;
    let meta = Meta::from(&result.meta);
    let size = result.range.end - result.range.start;
    if r.whole && size > capacity as u64 {
        // Python reports a too-small buffer with the size; reading the body would be wasted.
        return Ok(Success::Get {
            size,
            written: 0,
            meta,
        });
    }
    let want = size.min(capacity as u64) as usize;
    let early_eof = |got: usize| {
        ErrorInfo::new(
            Kind::EarlyEof,
            format!("{}: the body ended after {got} of {size} bytes", r.path),
        )
    };
    match result.payload {
        GetResultPayload::File(file, _) => {
            let arena = Arc::clone(&ctx.arena);
            let guard = arena.guard(offset); // the read goes on if the request is cancelled
            let start = result.range.start;
            let read = tokio::task::spawn_blocking(move || {
                let _guard = guard;
                file.read_exact_at(arena.region_mut(offset, want), start)
            })
            .await
            .map_err(|e| ErrorInfo::new(Kind::Unknown, format!("file read task failed: {e}")))?;
            read.map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => early_eof(0),
                _ => ErrorInfo::new(Kind::Unknown, format!("{}: {e}", r.path)),
            })?;
        }
        GetResultPayload::Stream(mut stream) => {
            let mut got = 0usize;
            while got < want {
                let Some(chunk) = stream.next().await else {
                    return Err(early_eof(got));
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
        written: want as u64,
        meta,
    })
}
