//! What the stores that wrap another store share (`azure_commit`'s, the Snowflake stage and its
//! encryption): the `ObjectStore` methods they hand on unchanged, and the hiding of the metadata a
//! wrapper keeps for itself.

use object_store::{Attribute, Attributes};

/// `attributes` without the ones `hidden` picks: what a wrapper wrote for itself, which reads
/// never show.
pub fn without(attributes: &Attributes, hidden: impl Fn(&Attribute) -> bool) -> Attributes {
    attributes
        .iter()
        .filter(|(attribute, _)| !hidden(attribute))
        .map(|(attribute, value)| (attribute.clone(), value.clone()))
        .collect()
}

/// Implements `ObjectStore` for a wrapping store: it writes out the methods it changes, and names
/// the ones that go unchanged to the store it wraps (`*`: all of them):
///
/// ```ignore
/// forward_object_store! {
///     impl ObjectStore for Wrapper {
///         forward(|s| s.inner) [put_opts, list];
///         async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> { .. }
///         ..
///     }
/// }
/// ```
///
/// `|s| ...` reaches the wrapped store from `s`, the wrapper; with `later` first (`forward(later
/// |s| s.store().await?)`) it is reached by an async call that may fail, and a listing or a delete
/// stream makes that call when it is first polled (the wrapper is `Clone` then). The trait's
/// provided methods are forwarded too, not left to their defaults: clippy's
/// `missing_trait_methods` refuses an impl that leaves one out.
macro_rules! forward_object_store {
    (
        impl ObjectStore for $ty:ident {
            forward(later |$s:ident| $($reach:tt)+) $methods:tt;
            $($own:tt)*
        }
    ) => {
        $crate::wrapping::forward_object_store!(
            @methods $methods ($ty (later $s ($($reach)+)) [$($own)*] [])
        );
    };
    (
        impl ObjectStore for $ty:ident {
            forward(|$s:ident| $($reach:tt)+) $methods:tt;
            $($own:tt)*
        }
    ) => {
        $crate::wrapping::forward_object_store!(
            @methods $methods ($ty (now $s ($($reach)+)) [$($own)*] [])
        );
    };
    (@methods * $state:tt) => {
        $crate::wrapping::forward_object_store!(@methods [
            put_opts, put_multipart_opts, get_opts, get_ranges, delete_stream, list,
            list_with_offset, list_with_delimiter, copy_opts, rename_opts,
        ] $state);
    };
    (@methods [$($method:ident),* $(,)?] ($ty:ident $via:tt $own:tt $done:tt)) => {
        $crate::wrapping::forward_object_store!(@munch $ty $via $own $done $($method)*);
    };
    // The impl is written whole once every method is, so that async_trait sees plain `async fn`s
    // and no macro calls among them.
    (@munch $ty:ident $via:tt [$($own:tt)*] [$($done:tt)*]) => {
        #[::async_trait::async_trait]
        #[deny(clippy::missing_trait_methods)]
        impl ::object_store::ObjectStore for $ty {
            $($own)*
            $($done)*
        }
    };
    (@munch $ty:ident $via:tt $own:tt $done:tt $method:ident $($rest:ident)*) => {
        $crate::wrapping::forward_object_store!(@def $method $via ($ty $via $own $done $($rest)*));
    };
    (@push ($ty:ident $via:tt $own:tt [$($done:tt)*] $($rest:ident)*) $($method:tt)*) => {
        $crate::wrapping::forward_object_store!(@munch $ty $via $own [$($done)* $($method)*] $($rest)*);
    };
    (@def put_opts ($when:ident $s:ident $reach:tt) $state:tt) => {
        $crate::wrapping::forward_object_store!(@push $state
            async fn put_opts(
                &self,
                location: &::object_store::path::Path,
                payload: ::object_store::PutPayload,
                opts: ::object_store::PutOptions,
            ) -> ::object_store::Result<::object_store::PutResult> {
                let $s = self;
                $reach.put_opts(location, payload, opts).await
            }
        );
    };
    (@def put_multipart_opts ($when:ident $s:ident $reach:tt) $state:tt) => {
        $crate::wrapping::forward_object_store!(@push $state
            async fn put_multipart_opts(
                &self,
                location: &::object_store::path::Path,
                opts: ::object_store::PutMultipartOptions,
            ) -> ::object_store::Result<Box<dyn ::object_store::MultipartUpload>> {
                let $s = self;
                $reach.put_multipart_opts(location, opts).await
            }
        );
    };
    (@def get_opts ($when:ident $s:ident $reach:tt) $state:tt) => {
        $crate::wrapping::forward_object_store!(@push $state
            async fn get_opts(
                &self,
                location: &::object_store::path::Path,
                options: ::object_store::GetOptions,
            ) -> ::object_store::Result<::object_store::GetResult> {
                let $s = self;
                $reach.get_opts(location, options).await
            }
        );
    };
    (@def get_ranges ($when:ident $s:ident $reach:tt) $state:tt) => {
        $crate::wrapping::forward_object_store!(@push $state
            async fn get_ranges(
                &self,
                location: &::object_store::path::Path,
                ranges: &[::std::ops::Range<u64>],
            ) -> ::object_store::Result<Vec<::bytes::Bytes>> {
                let $s = self;
                $reach.get_ranges(location, ranges).await
            }
        );
    };
    (@def list_with_delimiter ($when:ident $s:ident $reach:tt) $state:tt) => {
        $crate::wrapping::forward_object_store!(@push $state
            async fn list_with_delimiter(
                &self,
                prefix: Option<&::object_store::path::Path>,
            ) -> ::object_store::Result<::object_store::ListResult> {
                let $s = self;
                $reach.list_with_delimiter(prefix).await
            }
        );
    };
    (@def copy_opts ($when:ident $s:ident $reach:tt) $state:tt) => {
        $crate::wrapping::forward_object_store!(@push $state
            async fn copy_opts(
                &self,
                from: &::object_store::path::Path,
                to: &::object_store::path::Path,
                options: ::object_store::CopyOptions,
            ) -> ::object_store::Result<()> {
                let $s = self;
                $reach.copy_opts(from, to, options).await
            }
        );
    };
    (@def rename_opts ($when:ident $s:ident $reach:tt) $state:tt) => {
        $crate::wrapping::forward_object_store!(@push $state
            async fn rename_opts(
                &self,
                from: &::object_store::path::Path,
                to: &::object_store::path::Path,
                options: ::object_store::RenameOptions,
            ) -> ::object_store::Result<()> {
                let $s = self;
                $reach.rename_opts(from, to, options).await
            }
        );
    };
    // The streaming methods answer at once, so a store reached `later` is reached in the stream:
    // `@stream` gets the call as it goes `now`, and as it goes `later` after the arguments it
    // must own.
    (@def delete_stream ($when:ident $s:ident $reach:tt) $state:tt) => {
        $crate::wrapping::forward_object_store!(@push $state
            fn delete_stream(
                &self,
                locations: ::futures::stream::BoxStream<
                    'static,
                    ::object_store::Result<::object_store::path::Path>,
                >,
            ) -> ::futures::stream::BoxStream<
                'static,
                ::object_store::Result<::object_store::path::Path>,
            > {
                $crate::wrapping::forward_object_store!(@stream $when self $s $reach
                    now: delete_stream(locations)
                    later: [] delete_stream(locations))
            }
        );
    };
    (@def list ($when:ident $s:ident $reach:tt) $state:tt) => {
        $crate::wrapping::forward_object_store!(@push $state
            fn list(
                &self,
                prefix: Option<&::object_store::path::Path>,
            ) -> ::futures::stream::BoxStream<
                'static,
                ::object_store::Result<::object_store::ObjectMeta>,
            > {
                $crate::wrapping::forward_object_store!(@stream $when self $s $reach
                    now: list(prefix)
                    later: [let prefix = prefix.cloned();] list(prefix.as_ref()))
            }
        );
    };
    (@def list_with_offset ($when:ident $s:ident $reach:tt) $state:tt) => {
        $crate::wrapping::forward_object_store!(@push $state
            fn list_with_offset(
                &self,
                prefix: Option<&::object_store::path::Path>,
                offset: &::object_store::path::Path,
            ) -> ::futures::stream::BoxStream<
                'static,
                ::object_store::Result<::object_store::ObjectMeta>,
            > {
                $crate::wrapping::forward_object_store!(@stream $when self $s $reach
                    now: list_with_offset(prefix, offset)
                    later: [let prefix = prefix.cloned(); let offset = offset.clone();]
                        list_with_offset(prefix.as_ref(), &offset))
            }
        );
    };
    (@stream now $this:tt $s:ident $reach:tt
        now: $call:ident $args:tt later: $($later:tt)*) => {{
        let $s = $this;
        $reach.$call $args
    }};
    (@stream later $this:tt $s:ident $reach:tt
        now: $now:ident $now_args:tt later: [$($owned:tt)*] $call:ident $args:tt) => {{
        let $s = $this.clone();
        $($owned)*
        ::futures::stream::StreamExt::boxed(::futures::stream::TryStreamExt::try_flatten(
            ::futures::stream::once(async move {
                Ok::<_, ::object_store::Error>($reach.$call $args)
            }),
        ))
    }};
}
pub(crate) use forward_object_store;
