//! The payload arena: shared memory that Python created and passed as an fd, mapped once. Python owns
//! region allocation and never touches a region while a request that names it is in flight, so each
//! request has its region to itself.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{FromRawFd, RawFd};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use memmap2::MmapRaw;

use crate::codec::Region;
use crate::errors::{ErrorInfo, Kind};
use crate::sync::lock;

pub struct Arena {
    map: MmapRaw,
    /// Regions (by start) still reachable from work that outlives its request's future: a payload
    /// lent to an upload, a blocking file read. A cancelled request is answered only once its region
    /// is out of this table, so Python never reuses memory something still reads or writes.
    in_use: Mutex<HashMap<usize, usize>>,
}

// The mapping lives as long as the Arena; regions handed to tasks are disjoint (protocol.md section 4).
unsafe impl Send for Arena {}
unsafe impl Sync for Arena {}

impl Arena {
    /// Maps the inherited fd. Takes ownership of the fd.
    pub fn from_fd(fd: RawFd, size: u64) -> std::io::Result<Arena> {
        // SAFETY: the fd was passed to this process for exactly this purpose (`--arena-fd`).
        let file = unsafe { File::from_raw_fd(fd) };
        let actual = file.metadata()?.len();
        if actual < size {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("arena fd {fd} has {actual} bytes, fewer than --arena-size {size}"),
            ));
        }
        let len = usize::try_from(size).map_err(std::io::Error::other)?;
        let map = memmap2::MmapOptions::new().len(len).map_raw(&file)?;
        Ok(Arena {
            map,
            in_use: Mutex::new(HashMap::new()),
        })
    }

    pub fn len(&self) -> u64 {
        self.map.len() as u64
    }

    /// Checks a region against the arena's bounds.
    pub fn check(&self, region: Region) -> Result<(usize, usize), ErrorInfo> {
        let (offset, len) = region;
        match offset.checked_add(len) {
            Some(end) if end <= self.len() => Ok((offset as usize, len as usize)),
            _ => Err(ErrorInfo::new(
                Kind::Protocol,
                format!(
                    "region [{offset}, {len}] lies outside the arena of {} bytes",
                    self.len()
                ),
            )),
        }
    }

    /// Copies `data` into the arena at `offset` (already checked to fit).
    pub fn write(&self, offset: usize, data: &[u8]) {
        debug_assert!(offset + data.len() <= self.map.len());
        // SAFETY: in bounds (checked by `check`), and this request owns the region.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                self.map.as_mut_ptr().add(offset),
                data.len(),
            )
        }
    }

    /// A mutable view of a checked region, for reads straight from a file.
    #[allow(clippy::mut_from_ref)]
    pub fn region_mut(&self, offset: usize, len: usize) -> &mut [u8] {
        // SAFETY: in bounds, and this request owns the region until it answers.
        unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().add(offset), len) }
    }

    /// A view of a checked region, for writes straight from it.
    pub fn slice(&self, offset: usize, len: usize) -> &[u8] {
        self.region(offset, len)
    }

    fn region(&self, offset: usize, len: usize) -> &[u8] {
        // SAFETY: in bounds, and Python does not write this region while the request is in flight.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(offset), len) }
    }

    /// A copy of a region, for stores that keep the payload after the request ends.
    pub fn copy_out(&self, offset: usize, len: usize) -> Bytes {
        crate::memory::copied(self.region(offset, len))
    }

    /// The region as `Bytes` without a copy. Only for stores that are done with the payload when the
    /// request ends, since Python reuses the region after the response.
    pub fn borrow(self: &Arc<Self>, offset: usize, len: usize) -> Bytes {
        Bytes::from_owner(RegionRef {
            guard: self.guard(offset),
            len,
        })
    }

    /// Marks the region starting at `offset` in use until the guard drops.
    pub fn guard(self: &Arc<Self>, offset: usize) -> RegionGuard {
        *lock(&self.in_use).entry(offset).or_insert(0) += 1;
        RegionGuard {
            arena: Arc::clone(self),
            offset,
        }
    }

    pub fn in_use(&self, offset: usize) -> bool {
        lock(&self.in_use).contains_key(&offset)
    }
}

pub struct RegionGuard {
    arena: Arc<Arena>,
    offset: usize,
}

impl Drop for RegionGuard {
    fn drop(&mut self) {
        let mut in_use = lock(&self.arena.in_use);
        if let Some(count) = in_use.get_mut(&self.offset) {
            *count -= 1;
            if *count == 0 {
                in_use.remove(&self.offset);
            }
        }
    }
}

struct RegionRef {
    guard: RegionGuard,
    len: usize,
}

impl AsRef<[u8]> for RegionRef {
    fn as_ref(&self) -> &[u8] {
        self.guard.arena.region(self.guard.offset, self.len)
    }
}
