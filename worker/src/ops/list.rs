//! `list`, `list_next`, `list_close`: a listing pulled page by page, so the worker never runs ahead of
//! the caller.

use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::ObjectMeta;

use crate::codec::{CursorRequest, ListRequest, Meta, Success, MAX_LIST_PAGE};
use crate::errors::{ErrorInfo, Kind};
use crate::ops::{lock, Ctx};
use crate::stores::Store;
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
    let raw = if store.lists_unsorted() && !r.prefix.is_empty() && !r.prefix.ends_with('/') {
        // A local prefix that ends inside a name: walk only the entries that match it, not the
        // whole directory (`file:///t` would walk all of `/`).
        matching_entries(&store, dir, &r.prefix).await?
    } else {
        match &r.offset {
            Some(offset) => store
                .inner
                .list_with_offset(dir.as_ref(), &Path::from(offset.as_str())),
            None => store.inner.list(dir.as_ref()),
        }
    };
    let prefix = r.prefix;
    let offset = r.offset;
    // Some servers (Azurite) ignore the offset: filter here whatever the backend.
    let stream = raw
        .filter(move |item| {
            let keep = match item {
                Ok(meta) => {
                    let key = meta.location.as_ref();
                    key.starts_with(prefix.as_str()) && offset.as_deref().is_none_or(|o| key > o)
                }
                Err(_) => true,
            };
            std::future::ready(keep)
        })
        .boxed();
    // Keys in order on every backend: a local store is read whole and sorted.
    let stream = if store.lists_unsorted() {
        let mut all: Vec<_> = stream.try_collect().await.map_err(|e| store.error(&e))?;
        all.sort_by(|a: &ObjectMeta, b: &ObjectMeta| a.location.cmp(&b.location));
        futures::stream::iter(all.into_iter().map(Ok)).boxed()
    } else {
        stream
    };
    let stream = stream.map_ok(Entry::Object).boxed();
    let listing = Listing {
        stream,
        store,
        page: r.page as usize,
    };
    next_page(ctx, listing).await
}

/// Every object under `dir` whose key starts with `prefix`: the matching objects of its one level,
/// then everything below each matching subdirectory.
async fn matching_entries(
    store: &Store,
    dir: Option<Path>,
    prefix: &str,
) -> Result<BoxStream<'static, object_store::Result<ObjectMeta>>, ErrorInfo> {
    let (objects, subdirectories) = level_of(store, dir, |key| key.starts_with(prefix)).await?;
    let mut streams = vec![futures::stream::iter(objects.into_iter().map(Ok)).boxed()];
    for sub in subdirectories {
        streams.push(store.inner.list(Some(&sub)));
    }
    Ok(futures::stream::iter(streams).flatten().boxed())
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
    let found = store
        .inner
        .list_with_delimiter(dir.as_ref())
        .await
        .map_err(|e| store.error(&e))?;
    let mut objects: Vec<ObjectMeta> = found
        .objects
        .into_iter()
        .filter(|m| wanted(m.location.as_ref()))
        .collect();
    objects.sort_by(|a, b| a.location.cmp(&b.location));
    let mut subdirectories: Vec<Path> = found
        .common_prefixes
        .into_iter()
        .filter(|p| wanted(p.as_ref()))
        .collect();
    subdirectories.sort();
    Ok((objects, subdirectories))
}

async fn next_page(ctx: &Ctx, mut listing: Listing) -> Result<Success, ErrorInfo> {
    let mut entries = Vec::with_capacity(listing.page.min(1024));
    let mut prefixes = Vec::new();
    while entries.len() + prefixes.len() < listing.page {
        match listing.stream.next().await {
            Some(Ok(Entry::Object(meta))) => entries.push(Meta::from(&meta)),
            Some(Ok(Entry::Prefix(path))) => prefixes.push(path.to_string()),
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
