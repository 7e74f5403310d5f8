//! `list`, `list_next`, `list_close`: a listing pulled page by page, so the worker never runs ahead of
//! the caller.

use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::ObjectMeta;

use crate::codec::{CursorRequest, ListRequest, Meta, Success, MAX_FRAME, MAX_LIST_PAGE};
use crate::errors::{ErrorInfo, Kind};
use crate::local_walk;
use crate::ops::Ctx;
use crate::stores::Store;
use crate::sync::lock;
use std::sync::Arc;

pub struct Listing {
    stream: BoxStream<'static, object_store::Result<Entry>>,
    store: Arc<Store>,
    page: usize,
}

/// One item of a listing: an object, or (one level only) a common prefix, a "directory".
enum Entry {
    Object(ObjectMeta),
    Prefix(Path),
}

/// object_store lists by whole path segments; protocol.md promises a plain string prefix, so list the
/// directory part and keep the keys that start with the whole prefix.
fn directory_of(prefix: &str) -> Result<Option<Path>, ErrorInfo> {
    match prefix.rfind('/') {
        None => Ok(None),
        Some(i) => {
            let dir = &prefix[..i];
            Path::parse(dir).map(Some).map_err(|e| {
                ErrorInfo::new(Kind::InvalidPath, format!("invalid prefix {prefix:?}: {e}"))
            })
        }
    }
}

pub async fn list(ctx: &Ctx, r: ListRequest) -> Result<Success, ErrorInfo> {
    if r.page == 0 || r.page > MAX_LIST_PAGE {
        return Err(ErrorInfo::new(
            Kind::Protocol,
            format!("page must be 1 to {MAX_LIST_PAGE}, got {}", r.page),
        ));
    }
    let store = ctx.stores.get(r.store)?;
    let dir = directory_of(&r.prefix)?;
    if r.delimiter {
        let stream = one_level(&store, dir, r.prefix, r.offset).await?;
        return next_page(
            ctx,
            Listing {
                stream,
                store,
                page: r.page as usize,
            },
        )
        .await;
    }
    let stream = match store.local_root.clone() {
        Some(root) => {
            let (prefix, offset) = (r.prefix, r.offset);
            // Keys in order on every backend: a local store is read whole and sorted.
            let mut all =
                blocking(move || local_objects(&root, dir.as_ref(), &prefix, offset)).await?;
            all.sort_by(|a, b| a.location.cmp(&b.location));
            futures::stream::iter(all.into_iter().map(Ok)).boxed()
        }
        None => {
            let raw = match &r.offset {
                Some(offset) => store
                    .inner
                    .list_with_offset(dir.as_ref(), &Path::from(offset.as_str())),
                None => store.inner.list(dir.as_ref()),
            };
            let prefix = r.prefix;
            let offset = r.offset;
            // Some servers (Azurite) ignore the offset: filter here whatever they send.
            raw.filter(move |item| {
                let keep = match item {
                    Ok(meta) => {
                        let key = meta.location.as_ref();
                        key.starts_with(prefix.as_str())
                            && offset.as_deref().is_none_or(|o| key > o)
                    }
                    Err(_) => true,
                };
                std::future::ready(keep)
            })
            .boxed()
        }
    };
    let stream = stream.map_ok(Entry::Object).boxed();
    let listing = Listing {
        stream,
        store,
        page: r.page as usize,
    };
    next_page(ctx, listing).await
}

/// Every object of a local store under `dir` whose key starts with `prefix` (and comes after
/// `offset`). A prefix that ends inside a name walks only the entries that match it, not the whole
/// directory (`file:///t` would walk all of `/`): the matching objects of `dir`'s level, then
/// everything below each subdirectory whose key and `/` start with the prefix (what follows `dir/`
/// in the prefix has no `/`, so no other holds a wanted key).
fn local_objects(
    root: &std::path::Path,
    dir: Option<&Path>,
    prefix: &str,
    offset: Option<String>,
) -> Result<Vec<ObjectMeta>, ErrorInfo> {
    let wanted = |key: &str| key.starts_with(prefix) && offset.as_deref().is_none_or(|o| key > o);
    let level = local_walk::level(root, dir)?;
    let mut all: Vec<ObjectMeta> = level
        .objects
        .into_iter()
        .filter(|m| wanted(m.location.as_ref()))
        .collect();
    for sub in level.subdirectories {
        if format!("{}/", sub.as_ref()).starts_with(prefix) {
            let below = local_walk::walk(root, Some(&sub))?;
            all.extend(below.into_iter().filter(|m| wanted(m.location.as_ref())));
        }
    }
    Ok(all)
}

/// Runs blocking file system work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ErrorInfo> + Send + 'static,
) -> Result<T, ErrorInfo> {
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        ErrorInfo::new(
            Kind::Unknown,
            format!("the listing's file system walk failed: {e}"),
        )
    })?
}

/// The objects directly under `dir` and its subdirectories, those that start with the whole
/// `prefix` (and come after `offset`): objects, then prefixes.
async fn one_level(
    store: &Store,
    dir: Option<Path>,
    prefix: String,
    offset: Option<String>,
) -> Result<BoxStream<'static, object_store::Result<Entry>>, ErrorInfo> {
    let wanted =
        |key: &str| key.starts_with(prefix.as_str()) && offset.as_deref().is_none_or(|o| key > o);
    let (objects, prefixes) = level_of(store, dir, wanted).await?;
    let entries = objects
        .into_iter()
        .map(Entry::Object)
        .chain(prefixes.into_iter().map(Entry::Prefix))
        .map(Ok);
    Ok(futures::stream::iter(entries).boxed())
}

/// The objects and the subdirectories directly under `dir` whose keys `wanted` keeps, each in key
/// order.
async fn level_of(
    store: &Store,
    dir: Option<Path>,
    wanted: impl Fn(&str) -> bool,
) -> Result<(Vec<ObjectMeta>, Vec<Path>), ErrorInfo> {
    let (objects, subdirectories) = match store.local_root.clone() {
        Some(root) => {
            let level = blocking(move || local_walk::level(&root, dir.as_ref())).await?;
            (level.objects, level.subdirectories)
        }
        None => {
            let found = store
                .inner
                .list_with_delimiter(dir.as_ref())
                .await
                .map_err(|e| store.error(&e))?;
            (found.objects, found.common_prefixes)
        }
    };
    let mut objects: Vec<ObjectMeta> = objects
        .into_iter()
        .filter(|m| wanted(m.location.as_ref()))
        .collect();
    objects.sort_by(|a, b| a.location.cmp(&b.location));
    let mut subdirectories: Vec<Path> = subdirectories
        .into_iter()
        .filter(|p| wanted(p.as_ref()))
        .collect();
    subdirectories.sort();
    Ok((objects, subdirectories))
}

/// A page ends once its strings pass this many bytes, whatever `page` allows, so that its frame
/// stays within `MAX_FRAME` (10,000 keys of 1 KiB would not).
const PAGE_BYTES: usize = MAX_FRAME / 2;
/// Msgpack headers and the numbers of one entry, at most.
const ENTRY_OVERHEAD: usize = 32;

async fn next_page(ctx: &Ctx, mut listing: Listing) -> Result<Success, ErrorInfo> {
    let mut entries = Vec::with_capacity(listing.page.min(1024));
    let mut prefixes = Vec::new();
    let mut bytes = 0;
    while entries.len() + prefixes.len() < listing.page && bytes < PAGE_BYTES {
        match listing.stream.next().await {
            Some(Ok(Entry::Object(meta))) => {
                let meta = Meta::from(&meta);
                bytes += ENTRY_OVERHEAD
                    + meta.path.len()
                    + meta.e_tag.as_ref().map_or(0, String::len)
                    + meta.version.as_ref().map_or(0, String::len);
                entries.push(meta);
            }
            Some(Ok(Entry::Prefix(path))) => {
                let path = path.to_string();
                bytes += ENTRY_OVERHEAD + path.len();
                prefixes.push(path);
            }
            Some(Err(e)) => return Err(listing.store.error(&e)),
            None => {
                return Ok(Success::List {
                    entries,
                    prefixes,
                    cursor: None,
                })
            }
        }
    }
    let cursor = ctx.new_handle();
    lock(&ctx.listings).insert(cursor, listing);
    Ok(Success::List {
        entries,
        prefixes,
        cursor: Some(cursor),
    })
}

fn take(ctx: &Ctx, cursor: u64) -> Result<Listing, ErrorInfo> {
    lock(&ctx.listings)
        .remove(&cursor)
        .ok_or_else(|| ErrorInfo::new(Kind::Protocol, format!("no listing {cursor}")))
}

pub async fn list_next(ctx: &Ctx, r: CursorRequest) -> Result<Success, ErrorInfo> {
    let listing = take(ctx, r.cursor)?;
    next_page(ctx, listing).await
}

pub async fn list_close(ctx: &Ctx, r: CursorRequest) -> Result<Success, ErrorInfo> {
    take(ctx, r.cursor)?;
    Ok(Success::Empty)
}
