//! Listing a `file://` store by walking its directories, as object_store's local store lists them
//! but with one `stat` per file: the local store's walk follows links and checks each entry with
//! four (walkdir's, a symlink check, `is_file`, the metadata), and on this machine a `stat` costs
//! about 4 us, most of a local listing.
//!
//! What it keeps of the local store's listing: keys are the paths below the root, `/`-separated;
//! links are followed (a broken one is skipped, a loop is an error), so are linked directories;
//! only regular files are objects; a file that vanishes mid-walk is skipped; staged uploads
//! (`name#123`) are not objects; the e_tag is the local store's (`"inode-mtime_us-size"`), so a
//! listed e_tag pins a later ranged read. A name that is not a valid key (not UTF-8, a control
//! character) fails the listing, as it fails the local store's.

use std::collections::HashSet;
use std::fs::{self, Metadata};
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::{Path as FsPath, PathBuf};
use std::time::UNIX_EPOCH;

use object_store::path::Path;
use object_store::ObjectMeta;

use crate::errors::{ErrorInfo, Kind};

/// What one level holds: its objects, and its subdirectories as keys.
pub struct Level {
    pub objects: Vec<ObjectMeta>,
    pub subdirectories: Vec<Path>,
}

/// Every object at or below `dir` (`dir`'s key, or None for the root), in no particular order.
pub fn walk(root: &FsPath, dir: Option<&Path>) -> Result<Vec<ObjectMeta>, ErrorInfo> {
    let mut objects = Vec::new();
    let mut ancestors = HashSet::new();
    let start = directory(root, dir);
    if let Some(meta) = metadata_or_gone(&start)? {
        ancestors.insert((meta.dev(), meta.ino()));
        descend(&start, key_of(dir), &mut objects, &mut ancestors)?;
    }
    Ok(objects)
}

/// The objects and subdirectories directly in `dir`, in no particular order.
pub fn level(root: &FsPath, dir: Option<&Path>) -> Result<Level, ErrorInfo> {
    let mut found = Level {
        objects: Vec::new(),
        subdirectories: Vec::new(),
    };
    let start = directory(root, dir);
    let base = key_of(dir);
    for (name, meta) in entries_of(&start)? {
        let key = join(&base, &name);
        if meta.is_dir() {
            found.subdirectories.push(parse(&key)?);
        } else if let Some(object) = object(&key, &meta)? {
            found.objects.push(object);
        }
    }
    Ok(found)
}

fn directory(root: &FsPath, dir: Option<&Path>) -> PathBuf {
    match dir {
        Some(dir) => dir
            .parts()
            .fold(root.to_path_buf(), |path, part| path.join(part.as_ref())),
        None => root.to_path_buf(),
    }
}

fn key_of(dir: Option<&Path>) -> String {
    dir.map(|d| d.as_ref().to_string()).unwrap_or_default()
}

fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}/{name}")
    }
}

fn descend(
    dir: &FsPath,
    base: String,
    objects: &mut Vec<ObjectMeta>,
    ancestors: &mut HashSet<(u64, u64)>,
) -> Result<(), ErrorInfo> {
    for (name, meta) in entries_of(dir)? {
        let key = join(&base, &name);
        if meta.is_dir() {
            let id = (meta.dev(), meta.ino());
            if !ancestors.insert(id) {
                return Err(walk_error(
                    &dir.join(&name),
                    "a link loops back to a directory above it",
                ));
            }
            descend(&dir.join(&name), key, objects, ancestors)?;
            ancestors.remove(&id);
        } else if let Some(object) = object(&key, &meta)? {
            objects.push(object);
        }
    }
    Ok(())
}

/// A directory with more entries than this has them stat'ed on several threads.
const PARALLEL_FROM: usize = 512;

/// The names and metadata of what `dir` holds (nothing if it is gone). The stats are most of a
/// walk's time and independent of each other: a big directory's run on every core.
fn entries_of(dir: &FsPath) -> Result<Vec<(String, Metadata)>, ErrorInfo> {
    let Some(entries) = read_dir_or_gone(dir)? else {
        return Ok(Vec::new()); // removed meanwhile
    };
    let entries: Vec<_> = entries.collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let stat_all = |chunk: Vec<std::io::Result<fs::DirEntry>>| {
        let mut found = Vec::with_capacity(chunk.len());
        for entry in chunk {
            if let Some(named) = entry_of(entry, dir)? {
                found.push(named);
            }
        }
        Ok::<_, ErrorInfo>(found)
    };
    if threads < 2 || entries.len() < PARALLEL_FROM {
        return stat_all(entries);
    }
    let per_thread = entries.len().div_ceil(threads);
    let mut chunks = Vec::with_capacity(threads);
    let mut rest = entries;
    while rest.len() > per_thread {
        let tail = rest.split_off(per_thread);
        chunks.push(std::mem::replace(&mut rest, tail));
    }
    chunks.push(rest);
    std::thread::scope(|scope| {
        let running: Vec<_> = chunks
            .into_iter()
            .map(|chunk| scope.spawn(|| stat_all(chunk)))
            .collect();
        let mut all = Vec::new();
        for thread in running {
            let found = thread.join().map_err(|_| {
                ErrorInfo::new(
                    Kind::Unknown,
                    format!("a walk of {} panicked", dir.display()),
                )
            })??;
            all.extend(found);
        }
        Ok(all)
    })
}

/// An entry's name and metadata (a link's target's), or None for what is not there any more.
fn entry_of(
    entry: std::io::Result<fs::DirEntry>,
    dir: &FsPath,
) -> Result<Option<(String, Metadata)>, ErrorInfo> {
    let entry = match entry {
        Ok(entry) => entry,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(dir, &e)),
    };
    let path = entry.path();
    let name = entry.file_name().into_string().map_err(|_| {
        ErrorInfo::new(
            Kind::InvalidPath,
            format!(
                "{} is not valid UTF-8, so it cannot be a key",
                path.display()
            ),
        )
    })?;
    let is_link = entry.file_type().map(|t| t.is_symlink()).unwrap_or(false);
    // One stat: the entry's own (fstatat beside the directory's handle), or a link's target.
    let meta = if is_link {
        match fs::metadata(&path) {
            Ok(meta) => meta,
            Err(_) => return Ok(None), // a broken link is skipped, as the local store skips it
        }
    } else {
        match entry.metadata() {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&path, &e)),
        }
    };
    Ok(Some((name, meta)))
}

/// A regular file's meta, or None for what is not an object (a device, a staged upload).
fn object(key: &str, meta: &Metadata) -> Result<Option<ObjectMeta>, ErrorInfo> {
    if !meta.is_file() || is_staged_upload(key) {
        return Ok(None);
    }
    let modified = meta
        .modified()
        .map_err(|e| io_error(FsPath::new(key), &e))?;
    let micros = modified
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default();
    Ok(Some(ObjectMeta {
        location: parse(key)?,
        last_modified: modified.into(),
        size: meta.len(),
        e_tag: Some(format!("\"{:x}-{micros:x}-{:x}\"", meta.ino(), meta.len())),
        version: None,
    }))
}

/// The local store's staged uploads end in `#` and digits (object_store's `is_valid_file_path`).
fn is_staged_upload(key: &str) -> bool {
    let name = key.rsplit('/').next().unwrap_or(key);
    match name.split_once('#') {
        Some((_, suffix)) if !suffix.is_empty() => suffix.bytes().all(|b| b.is_ascii_digit()),
        _ => false,
    }
}

fn parse(key: &str) -> Result<Path, ErrorInfo> {
    Path::parse(key).map_err(|e| {
        ErrorInfo::new(
            Kind::InvalidPath,
            format!("the file {key:?} cannot be a key: {e}"),
        )
    })
}

fn read_dir_or_gone(dir: &FsPath) -> Result<Option<fs::ReadDir>, ErrorInfo> {
    match fs::read_dir(dir) {
        Ok(entries) => Ok(Some(entries)),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => Ok(None),
        Err(e) => Err(io_error(dir, &e)),
    }
}

fn metadata_or_gone(path: &FsPath) -> Result<Option<Metadata>, ErrorInfo> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path, &e)),
    }
}

fn walk_error(path: &FsPath, why: &str) -> ErrorInfo {
    ErrorInfo::new(
        Kind::Unknown,
        format!("cannot list {}: {why}", path.display()),
    )
}

fn io_error(path: &FsPath, e: &std::io::Error) -> ErrorInfo {
    let kind = match e.kind() {
        ErrorKind::PermissionDenied => Kind::Permission,
        _ => Kind::Unknown,
    };
    ErrorInfo::new(kind, format!("cannot list {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_uploads_are_not_objects() {
        assert!(is_staged_upload("a/b#1"));
        assert!(is_staged_upload("b#0042"));
        assert!(!is_staged_upload("a#b/c"));
        assert!(!is_staged_upload("b#"));
        assert!(!is_staged_upload("b#1x"));
        assert!(!is_staged_upload("plain"));
    }
}
