//! `put`: the region's bytes, stored atomically.

use object_store::{PutMode, PutOptions, PutPayload, UpdateVersion};

use crate::codec::{PutRequest, Success};
use crate::errors::{ErrorInfo, Kind};
use crate::ops::{attributes, Ctx};

/// The region as a payload: a copy where what receives it `keeps` it after the request ends,
/// else a view.
pub fn payload(ctx: &Ctx, keeps: bool, offset: usize, len: usize) -> PutPayload {
    let bytes = if keeps {
        ctx.arena.copy_out(offset, len)
    } else {
        ctx.arena.borrow(offset, len)
    };
    PutPayload::from(bytes)
}

pub async fn put(ctx: &Ctx, r: PutRequest) -> Result<Success, ErrorInfo> {
    let (offset, len) = ctx.arena.check(r.region)?;
    let store = ctx.stores.get(r.store)?;
    let path = store.key(&r.path)?;
    let mode = put_mode(&r)?;
    let updating = matches!(mode, PutMode::Update(_));
    let (attributes, tags) = attributes::write_options(&store, r.attached)?;
    let options = PutOptions {
        mode,
        attributes,
        tags,
        ..PutOptions::default()
    };
    let result = store
        .inner
        .put_opts(
            &path,
            payload(ctx, store.keeps_payload, offset, len),
            options,
        )
        .await
        .map_err(|e| {
            let mut info = store.error(&e);
            if updating && info.kind == Kind::AlreadyExists {
                // object_store calls every 409 "already exists"; to an update it means another
                // conditional write got there first (S3's ConditionalRequestConflict).
                info.kind = Kind::Precondition;
            }
            info
        })?;
    Ok(Success::Put {
        e_tag: result.e_tag,
        version: result.version,
    })
}

fn put_mode(r: &PutRequest) -> Result<PutMode, ErrorInfo> {
    match r.mode.as_deref() {
        None | Some("overwrite") => Ok(PutMode::Overwrite),
        Some("create") => Ok(PutMode::Create),
        Some("update") if r.e_tag.is_some() || r.version.is_some() => {
            Ok(PutMode::Update(UpdateVersion {
                e_tag: r.e_tag.clone(),
                version: r.version.clone(),
            }))
        }
        Some(other) => Err(ErrorInfo::new(
            Kind::Protocol,
            format!("unknown put mode {other:?}, or \"update\" without e_tag or version"),
        )),
    }
}
