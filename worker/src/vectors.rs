//! The golden vectors in `tests/vectors/`, seen from Rust; `tests/test_vectors.py` checks the same files
//! against the Python codec. Requests must decode to what the vector's `message` says, responses must be
//! exactly the bytes this crate's encoder writes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::{json, Map, Value};

use crate::codec::{
    decode_request, encode_hello, encode_response, Attached, BulkDeleteRequest, CancelRequest,
    ClientSettings, Conditions, CopyRequest, CredentialsPush, CursorRequest, Decoded,
    DownloadManyRequest, DownloadPartRequest, DownloadRequest, F64Key, GetRequest, HeadRequest,
    IdRequest, InvalidateRequest, ListRequest, Meta, MultipartPart, PathRequest, PushedAws,
    PutRequest, Register, Request, RetrySettings, Secret, SignRequest, StoreConfig, StreamChunk,
    StreamOpen, StreamRequest, Success, UploadFile, UploadManyRequest, UploadRequest, UploadStart,
};
use crate::errors::{ErrorInfo, Kind};

pub(crate) struct Vector {
    name: String,
    message: Value,
    pub(crate) bytes: Vec<u8>,
    expect: Option<Value>,
}

pub(crate) fn load(file: &str) -> Vec<Vector> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/vectors")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let parsed: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let vectors: Vec<Vector> = parsed
        .as_array()
        .expect("a list of vectors")
        .iter()
        .map(|v| Vector {
            name: v["name"].as_str().expect("name").to_owned(),
            message: v["message"].clone(),
            bytes: unhex(v["msgpack_hex"].as_str().expect("msgpack_hex")),
            expect: v.get("expect").cloned(),
        })
        .collect();
    let names: BTreeSet<&str> = vectors.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names.len(), vectors.len(), "duplicate names in {file}");
    vectors
}

fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len() % 2 == 0, "odd-length hex {text}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn region(offset: u64, length: u64) -> (u64, u64) {
    (offset, length)
}

fn pairs(items: &[(&str, &str)]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn path_request(id: u64, store: u32, path: &str) -> PathRequest {
    PathRequest {
        id,
        store,
        path: path.into(),
    }
}

/// What each valid request vector must decode to: one explicit expectation per name.
fn expected_request(name: &str) -> Request {
    match name {
        "register_s3_with_options_client_retry" => Request::Register(Register {
            store: 1,
            config: StoreConfig {
                url: "s3://bucket".into(),
                options: BTreeMap::from([
                    ("aws_region".into(), "us-east-1".into()),
                    ("aws_endpoint".into(), "http://127.0.0.1:9000".into()),
                    ("aws_allow_http".into(), "true".into()),
                ]),
                client: ClientSettings {
                    timeout_secs: Some(F64Key(30.0)),
                    connect_timeout_secs: Some(F64Key(2.5)),
                },
                retry: RetrySettings {
                    max_retries: Some(3),
                    retry_timeout_secs: Some(F64Key(60.5)),
                    initial_backoff_ms: Some(100),
                    max_backoff_ms: Some(15000),
                    backoff_exp_base: Some(F64Key(2.0)),
                },
                credentials: None,
            },
        }),
        "register_memory_no_settings" => Request::Register(Register {
            store: 2,
            config: StoreConfig {
                url: "memory://".into(),
                options: BTreeMap::new(),
                client: ClientSettings::default(),
                retry: RetrySettings::default(),
                credentials: None,
            },
        }),
        "download" => Request::Download(DownloadRequest {
            id: 80,
            store: 1,
            path: "dir/object.bin".into(),
            temp: "/data/.object.bin.0a1b2c3d.part".into(),
            target: "/data/object.bin".into(),
            limit: 8_388_608,
            fsync: false,
            when: Conditions::default(),
        }),
        "upload_many" => Request::UploadMany(UploadManyRequest {
            id: 83,
            store: 1,
            files: vec![
                UploadFile {
                    file: "/d/t/a.csv".into(),
                    path: "t/a.csv".into(),
                    attached: Attached {
                        attributes: pairs(&[("Content-Type", "text/csv"), ("owner", "etl")]),
                        tags: BTreeMap::new(),
                    },
                },
                UploadFile {
                    file: "/d/t/\u{fc}ber.bin".into(),
                    path: "t/\u{fc}ber.bin".into(),
                    attached: Attached::default(),
                },
            ],
            mode: Some("create".into()),
            limit: 1_048_576,
        }),
        "download_part" => Request::DownloadPart(DownloadPartRequest {
            id: 82,
            store: 1,
            path: "big/file.bin".into(),
            file: "/data/.file.bin.0a1b2c3d.part".into(),
            target: "/data/file.bin".into(),
            range: (8_388_608, 16_777_216),
            when: Conditions {
                if_match: Some("\"abc\"".into()),
                ..Conditions::default()
            },
        }),
        "download_many" => Request::DownloadMany(DownloadManyRequest {
            id: 81,
            store: 1,
            files: vec![
                [
                    "t/a.bin".into(),
                    "/d/t/.a.bin.00000001.part".into(),
                    "/d/t/a.bin".into(),
                ],
                [
                    "t/\u{fc}ber.bin".into(),
                    "/d/t/.\u{fc}ber.bin.00000002.part".into(),
                    "/d/t/\u{fc}ber.bin".into(),
                ],
            ],
            fsync: true,
        }),
        "get_whole" => Request::Get(GetRequest {
            id: 1,
            store: 1,
            path: "dir/object.bin".into(),
            region: region(0, 1048576),
            whole: true,
            range: None,
            suffix: None,
            when: Conditions::default(),
        }),
        "get_range_if_match" => Request::Get(GetRequest {
            id: 2,
            store: 1,
            path: "dir/object.bin".into(),
            region: region(4096, 100),
            whole: false,
            range: Some((5_000_000_000, Some(5_000_000_100))),
            suffix: None,
            when: Conditions {
                if_match: Some("\"0x8DC1E2F3A4B5C6D\"".into()),
                ..Conditions::default()
            },
        }),
        "get_conditional" => Request::Get(GetRequest {
            id: 34,
            store: 1,
            path: "dir/a.txt".into(),
            region: region(0, 4096),
            whole: false,
            range: None,
            suffix: None,
            when: Conditions {
                if_none_match: Some("\"9b2cf535f27731c974343645a3985328\"".into()),
                if_modified_since: Some(1_700_000_000_000_000_000),
                version: Some("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY".into()),
                ..Conditions::default()
            },
        }),
        "get_range_only" => Request::Get(GetRequest {
            id: 3,
            store: 3,
            path: "k".into(),
            region: region(7, 8),
            whole: true,
            range: Some((0, Some(8))),
            suffix: None,
            when: Conditions::default(),
        }),
        "get_to_the_end" => Request::Get(GetRequest {
            id: 29,
            store: 1,
            path: "k".into(),
            region: region(0, 4096),
            whole: false,
            range: Some((100, None)),
            suffix: None,
            when: Conditions::default(),
        }),
        "get_suffix" => Request::Get(GetRequest {
            id: 30,
            store: 1,
            path: "data.parquet".into(),
            region: region(0, 65536),
            whole: false,
            range: None,
            suffix: Some(65536),
            when: Conditions::default(),
        }),
        "head" => Request::Head(HeadRequest {
            id: 4,
            store: 1,
            path: "dir/\u{fc}ber.txt".into(),
            when: Conditions::default(),
        }),
        "head_conditional" => Request::Head(HeadRequest {
            id: 35,
            store: 1,
            path: "dir/a.txt".into(),
            when: Conditions {
                if_match: Some("\"9b2cf535f27731c974343645a3985328\"".into()),
                if_unmodified_since: Some(-1_000_000_000),
                ..Conditions::default()
            },
        }),
        "put" => Request::Put(PutRequest {
            id: 5,
            store: 1,
            path: "dir/new.bin".into(),
            region: region(8_589_934_592, 65536),
            mode: None,
            e_tag: None,
            version: None,
            attached: Attached::default(),
        }),
        "delete" => Request::Delete(path_request(6, 1, "dir/old.bin")),
        "multipart_start" => Request::MultipartStart(UploadStart {
            id: 7,
            store: 1,
            path: "big/file.bin".into(),
            size: Some(1 << 30),
            attached: Attached::default(),
        }),
        "put_attached" => Request::Put(PutRequest {
            id: 37,
            store: 1,
            path: "dir/a.csv".into(),
            region: region(0, 11),
            mode: Some("create".into()),
            e_tag: None,
            version: None,
            attached: Attached {
                attributes: pairs(&[("Content-Type", "text/csv"), ("owner", "etl")]),
                tags: pairs(&[("team", "data")]),
            },
        }),
        "multipart_start_attached" => Request::MultipartStart(UploadStart {
            id: 38,
            store: 1,
            path: "big/file.bin".into(),
            size: None,
            attached: Attached {
                attributes: pairs(&[("Cache-Control", "no-cache")]),
                tags: BTreeMap::new(),
            },
        }),
        "write_open_attached" => Request::WriteOpen(StreamOpen {
            id: 39,
            store: 2,
            path: "out/data.gz".into(),
            codec: Some("gzip".into()),
            when: Conditions::default(),
            attached: Attached {
                attributes: pairs(&[("Content-Encoding", "gzip")]),
                tags: pairs(&[("a b", "c/d=e"), ("\u{fc}", "")]),
            },
        }),
        "multipart_part" => Request::MultipartPart(MultipartPart {
            id: 8,
            upload: 42,
            region: region(0, 5_242_880),
        }),
        "multipart_complete" => Request::MultipartComplete(UploadRequest { id: 9, upload: 42 }),
        "multipart_abort" => Request::MultipartAbort(UploadRequest { id: 10, upload: 43 }),
        "list" => Request::List(ListRequest {
            id: 11,
            store: 1,
            prefix: "dir/".into(),
            offset: None,
            page: 1000,
            delimiter: false,
        }),
        "list_with_offset" => Request::List(ListRequest {
            id: 12,
            store: 1,
            prefix: "dir/".into(),
            offset: Some("dir/m".into()),
            page: 10_000,
            delimiter: false,
        }),
        "list_one_level" => Request::List(ListRequest {
            id: 32,
            store: 1,
            prefix: "data/year=2026/".into(),
            offset: None,
            page: 1000,
            delimiter: true,
        }),
        "list_next" => Request::ListNext(CursorRequest { id: 13, cursor: 5 }),
        "list_close" => Request::ListClose(CursorRequest {
            id: u64::MAX,
            cursor: 6,
        }),
        "put_create" => Request::Put(PutRequest {
            id: 14,
            store: 1,
            path: "dir/new.bin".into(),
            region: region(0, 11),
            mode: Some("create".into()),
            e_tag: None,
            version: None,
            attached: Attached::default(),
        }),
        "put_update_e_tag_version" => Request::Put(PutRequest {
            id: 15,
            store: 1,
            path: "dir/new.bin".into(),
            region: region(0, 11),
            mode: Some("update".into()),
            e_tag: Some("\"5d41402abc4b2a76b9719d911017c592\"".into()),
            version: Some("v-0001".into()),
            attached: Attached::default(),
        }),
        "bulk_delete" => Request::BulkDelete(BulkDeleteRequest {
            id: 16,
            store: 1,
            paths: vec![
                "dir/a.txt".into(),
                "dir/\u{fc}ber.txt".into(),
                "dir//bad".into(),
            ],
        }),
        "copy_no_overwrite" => Request::Copy(CopyRequest {
            id: 17,
            store: 1,
            from: "dir/a.txt".into(),
            to: "dir/b.txt".into(),
            overwrite: false,
        }),
        "rename" => Request::Rename(CopyRequest {
            id: 18,
            store: 1,
            from: "dir/b.txt".into(),
            to: "dir/c.txt".into(),
            overwrite: true,
        }),
        "read_open_zstd" => Request::ReadOpen(StreamOpen {
            id: 19,
            store: 1,
            path: "logs/day.zst".into(),
            codec: Some("zstd".into()),
            when: Conditions::default(),
            attached: Attached::default(),
        }),
        "read_open" => Request::ReadOpen(StreamOpen {
            id: 20,
            store: 1,
            path: "dir/a.txt".into(),
            codec: None,
            when: Conditions::default(),
            attached: Attached::default(),
        }),
        "read_next" => Request::ReadNext(StreamChunk {
            id: 21,
            stream: 3,
            region: region(65536, 65536),
        }),
        "read_close" => Request::ReadClose(StreamRequest { id: 22, stream: 3 }),
        "write_open_gzip" => Request::WriteOpen(StreamOpen {
            id: 23,
            store: 2,
            path: "out/data.gz".into(),
            codec: Some("gzip".into()),
            when: Conditions::default(),
            attached: Attached::default(),
        }),
        "write_chunk" => Request::WriteChunk(StreamChunk {
            id: 24,
            stream: 1 << 32,
            region: region(0, 1_048_576),
        }),
        "write_finish" => Request::WriteFinish(StreamRequest {
            id: 25,
            stream: 1 << 32,
        }),
        "write_abort" => Request::WriteAbort(StreamRequest { id: 26, stream: 5 }),
        "sign" => Request::Sign(SignRequest {
            id: 36,
            store: 2,
            path: "dir/\u{fc}ber.txt".into(),
            method: "PUT".into(),
            expires_secs: 3600,
        }),
        "metrics" => Request::Metrics(IdRequest { id: 27 }),
        "ping" => Request::Ping(IdRequest { id: 28 }),
        "cancel" => Request::Cancel(CancelRequest { target: 1 << 40 }),
        "register_s3_with_credential_provider" => Request::Register(Register {
            store: 4,
            config: StoreConfig {
                url: "s3://bucket".into(),
                options: BTreeMap::from([("region".into(), "us-east-1".into())]),
                client: ClientSettings::default(),
                retry: RetrySettings::default(),
                credentials: Some(7),
            },
        }),
        "credentials_aws" => Request::Credentials(CredentialsPush {
            provider: 7,
            aws: Some(PushedAws {
                key_id: "ASIAEXAMPLE".into(),
                secret_key: "wJalrXUtnFEMI/K7MDENG".into(),
                token: Some("FwoGZXIvYXdzEJr".into()),
            }),
            bearer: None,
        }),
        "credentials_bearer" => Request::Credentials(CredentialsPush {
            provider: 8,
            aws: None,
            bearer: Some(Secret("eyJ0eXAiOiJKV1QiLCJhbGciOi".into())),
        }),
        "invalidate_one" => Request::Invalidate(InvalidateRequest { store: Some(3) }),
        "invalidate_all" => Request::Invalidate(InvalidateRequest { store: None }),
        other => panic!("request vector {other} has no expectation in vectors.rs"),
    }
}

fn region_json(r: &(u64, u64)) -> Value {
    json!([r.0, r.1])
}

fn insert_some<T: Into<Value>>(map: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(v) = value {
        map.insert(key.into(), v.into());
    }
}

fn insert_conditions(map: &mut Map<String, Value>, when: &Conditions) {
    insert_some(map, "if_match", when.if_match.clone());
    insert_some(map, "if_none_match", when.if_none_match.clone());
    insert_some(map, "if_modified_since", when.if_modified_since);
    insert_some(map, "if_unmodified_since", when.if_unmodified_since);
    insert_some(map, "version", when.version.clone());
}

fn insert_attached(map: &mut Map<String, Value>, attached: &Attached) {
    if !attached.attributes.is_empty() {
        map.insert("attributes".into(), json!(attached.attributes));
    }
    if !attached.tags.is_empty() {
        map.insert("tags".into(), json!(attached.tags));
    }
}

/// A decoded request as the JSON map Python sends (absent optional fields left out), so it can be
/// compared with the vector's `message` field by field.
fn request_json(request: &Request) -> Value {
    let mut map = Map::new();
    let (op, id) = match request {
        Request::Register(r) => {
            map.insert("store".into(), json!(r.store));
            map.insert("url".into(), json!(r.config.url));
            map.insert("options".into(), json!(r.config.options));
            let mut client = Map::new();
            insert_some(
                &mut client,
                "timeout_secs",
                r.config.client.timeout_secs.map(|f| f.0),
            );
            insert_some(
                &mut client,
                "connect_timeout_secs",
                r.config.client.connect_timeout_secs.map(|f| f.0),
            );
            map.insert("client".into(), Value::Object(client));
            let retry = &r.config.retry;
            let mut m = Map::new();
            insert_some(&mut m, "max_retries", retry.max_retries);
            insert_some(
                &mut m,
                "retry_timeout_secs",
                retry.retry_timeout_secs.map(|f| f.0),
            );
            insert_some(&mut m, "initial_backoff_ms", retry.initial_backoff_ms);
            insert_some(&mut m, "max_backoff_ms", retry.max_backoff_ms);
            insert_some(
                &mut m,
                "backoff_exp_base",
                retry.backoff_exp_base.map(|f| f.0),
            );
            map.insert("retry".into(), Value::Object(m));
            insert_some(&mut map, "credentials", r.config.credentials);
            ("register", None)
        }
        Request::Get(r) => {
            map.insert("store".into(), json!(r.store));
            map.insert("path".into(), json!(r.path));
            map.insert("region".into(), region_json(&r.region));
            map.insert("whole".into(), json!(r.whole));
            insert_some(
                &mut map,
                "range",
                r.range.map(|(start, end)| json!([start, end])),
            );
            insert_some(&mut map, "suffix", r.suffix);
            insert_conditions(&mut map, &r.when);
            ("get", Some(r.id))
        }
        Request::Head(r) => {
            map.insert("store".into(), json!(r.store));
            map.insert("path".into(), json!(r.path));
            insert_conditions(&mut map, &r.when);
            ("head", Some(r.id))
        }
        Request::Download(r) => {
            map.insert("store".into(), json!(r.store));
            map.insert("path".into(), json!(r.path));
            map.insert("temp".into(), json!(r.temp));
            map.insert("target".into(), json!(r.target));
            map.insert("limit".into(), json!(r.limit));
            map.insert("fsync".into(), json!(r.fsync));
            insert_conditions(&mut map, &r.when);
            ("download", Some(r.id))
        }
        Request::DownloadPart(r) => {
            map.insert("store".into(), json!(r.store));
            map.insert("path".into(), json!(r.path));
            map.insert("file".into(), json!(r.file));
            map.insert("target".into(), json!(r.target));
            map.insert("range".into(), json!([r.range.0, r.range.1]));
            insert_conditions(&mut map, &r.when);
            ("download_part", Some(r.id))
        }
        Request::UploadMany(r) => {
            map.insert("store".into(), json!(r.store));
            let files: Vec<Value> = r
                .files
                .iter()
                .map(|f| {
                    let mut file = Map::new();
                    file.insert("file".into(), json!(f.file));
                    file.insert("path".into(), json!(f.path));
                    insert_attached(&mut file, &f.attached);
                    Value::Object(file)
                })
                .collect();
            map.insert("files".into(), Value::Array(files));
            map.insert("limit".into(), json!(r.limit));
            insert_some(&mut map, "mode", r.mode.clone());
            ("upload_many", Some(r.id))
        }
        Request::DownloadMany(r) => {
            map.insert("store".into(), json!(r.store));
            map.insert("files".into(), json!(r.files));
            map.insert("fsync".into(), json!(r.fsync));
            ("download_many", Some(r.id))
        }
        Request::Delete(r) => {
            map.insert("store".into(), json!(r.store));
            map.insert("path".into(), json!(r.path));
            ("delete", Some(r.id))
        }
        Request::MultipartStart(r) => {
            map.insert("store".into(), json!(r.store));
            map.insert("path".into(), json!(r.path));
            insert_some(&mut map, "size", r.size);
            insert_attached(&mut map, &r.attached);
            ("multipart_start", Some(r.id))
        }
        Request::Put(r) => {
            map.insert("store".into(), json!(r.store));
            map.insert("path".into(), json!(r.path));
            map.insert("region".into(), region_json(&r.region));
            insert_some(&mut map, "mode", r.mode.clone());
            insert_some(&mut map, "e_tag", r.e_tag.clone());
            insert_some(&mut map, "version", r.version.clone());
            insert_attached(&mut map, &r.attached);
            ("put", Some(r.id))
        }
        Request::MultipartPart(r) => {
            map.insert("upload".into(), json!(r.upload));
            map.insert("region".into(), region_json(&r.region));
            ("multipart_part", Some(r.id))
        }
        Request::MultipartComplete(r) | Request::MultipartAbort(r) => {
            map.insert("upload".into(), json!(r.upload));
            let op = match request {
                Request::MultipartComplete(_) => "multipart_complete",
                _ => "multipart_abort",
            };
            (op, Some(r.id))
        }
        Request::List(r) => {
            map.insert("store".into(), json!(r.store));
            map.insert("prefix".into(), json!(r.prefix));
            insert_some(&mut map, "offset", r.offset.clone());
            map.insert("page".into(), json!(r.page));
            if r.delimiter {
                map.insert("delimiter".into(), json!(true));
            }
            ("list", Some(r.id))
        }
        Request::ListNext(r) | Request::ListClose(r) => {
            map.insert("cursor".into(), json!(r.cursor));
            let op = match request {
                Request::ListNext(_) => "list_next",
                _ => "list_close",
            };
            (op, Some(r.id))
        }
        Request::BulkDelete(r) => {
            map.insert("store".into(), json!(r.store));
            map.insert("paths".into(), json!(r.paths));
            ("bulk_delete", Some(r.id))
        }
        Request::Copy(r) | Request::Rename(r) => {
            map.insert("store".into(), json!(r.store));
            map.insert("from".into(), json!(r.from));
            map.insert("to".into(), json!(r.to));
            map.insert("overwrite".into(), json!(r.overwrite));
            let op = match request {
                Request::Copy(_) => "copy",
                _ => "rename",
            };
            (op, Some(r.id))
        }
        Request::ReadOpen(r) | Request::WriteOpen(r) => {
            map.insert("store".into(), json!(r.store));
            map.insert("path".into(), json!(r.path));
            insert_some(&mut map, "codec", r.codec.clone());
            insert_conditions(&mut map, &r.when);
            insert_attached(&mut map, &r.attached);
            let op = match request {
                Request::ReadOpen(_) => "read_open",
                _ => "write_open",
            };
            (op, Some(r.id))
        }
        Request::ReadNext(r) | Request::WriteChunk(r) => {
            map.insert("stream".into(), json!(r.stream));
            map.insert("region".into(), region_json(&r.region));
            let op = match request {
                Request::ReadNext(_) => "read_next",
                _ => "write_chunk",
            };
            (op, Some(r.id))
        }
        Request::ReadClose(r) | Request::WriteFinish(r) | Request::WriteAbort(r) => {
            map.insert("stream".into(), json!(r.stream));
            let op = match request {
                Request::ReadClose(_) => "read_close",
                Request::WriteFinish(_) => "write_finish",
                _ => "write_abort",
            };
            (op, Some(r.id))
        }
        Request::Sign(r) => {
            map.insert("store".into(), json!(r.store));
            map.insert("path".into(), json!(r.path));
            map.insert("method".into(), json!(r.method));
            map.insert("expires_secs".into(), json!(r.expires_secs));
            ("sign", Some(r.id))
        }
        Request::Metrics(r) => ("metrics", Some(r.id)),
        Request::Ping(r) => ("ping", Some(r.id)),
        Request::Cancel(r) => {
            map.insert("target".into(), json!(r.target));
            ("cancel", None)
        }
        Request::Credentials(r) => {
            map.insert("provider".into(), json!(r.provider));
            if let Some(aws) = &r.aws {
                let mut keys = Map::new();
                keys.insert("key_id".into(), json!(aws.key_id));
                keys.insert("secret_key".into(), json!(aws.secret_key));
                insert_some(&mut keys, "token", aws.token.clone());
                map.insert("aws".into(), Value::Object(keys));
            }
            if let Some(Secret(bearer)) = &r.bearer {
                map.insert("bearer".into(), json!(bearer));
            }
            ("credentials", None)
        }
        Request::Invalidate(r) => {
            insert_some(&mut map, "store", r.store);
            ("invalidate", None)
        }
    };
    assert_eq!(id, request.id());
    map.insert("op".into(), json!(op));
    insert_some(&mut map, "id", id);
    Value::Object(map)
}

#[test]
fn request_vectors_decode_to_their_messages() {
    let vectors = load("requests.json");
    let mut ops = BTreeSet::new();
    let mut checked = 0;
    for v in vectors.iter().filter(|v| v.expect.is_none()) {
        let decoded = decode_request(&v.bytes)
            .unwrap_or_else(|e| panic!("{}: decode_request failed: {e}", v.name));
        let Decoded::Request(request) = decoded else {
            panic!("{}: decoded as {decoded:?}", v.name);
        };
        assert_eq!(request, expected_request(&v.name), "{}", v.name);
        assert_eq!(request_json(&request), v.message, "{}", v.name);
        assert_eq!(
            request.id(),
            v.message.get("id").map(|id| id.as_u64().expect("u64 id")),
            "{}",
            v.name
        );
        ops.insert(v.message["op"].as_str().expect("op").to_owned());
        checked += 1;
    }
    assert!(checked > 0);
    let every_op = [
        "register",
        "credentials",
        "invalidate",
        "get",
        "download",
        "download_many",
        "download_part",
        "head",
        "put",
        "upload_many",
        "delete",
        "multipart_start",
        "multipart_part",
        "multipart_complete",
        "multipart_abort",
        "list",
        "list_next",
        "list_close",
        "bulk_delete",
        "copy",
        "rename",
        "read_open",
        "read_next",
        "read_close",
        "write_open",
        "write_chunk",
        "write_finish",
        "write_abort",
        "sign",
        "metrics",
        "ping",
        "cancel",
    ];
    let every_op: BTreeSet<String> = every_op.iter().map(|s| s.to_string()).collect();
    assert_eq!(ops, every_op);
    assert_eq!(
        protocol_md_ops(),
        every_op,
        "the ops of protocol.md section 5"
    );
}

/// The ops in the first column of protocol.md section 5's table.
fn protocol_md_ops() -> BTreeSet<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../protocol.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let section = text
        .split("## 5. Requests")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("protocol.md has a section 5");
    let ops: BTreeSet<String> = section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .map(str::to_owned)
        .collect();
    assert!(!ops.is_empty(), "protocol.md section 5 has no table of ops");
    ops
}

/// The id a frame that is not a valid request must be answered with, or None when it is fatal.
fn expected_invalid_id(v: &Vector) -> Option<u64> {
    let expect = v.expect.as_ref().expect("an invalid vector has `expect`");
    let id = match (v.name.as_str(), expect["decoded"].as_str()) {
        ("invalid_unknown_op_with_id", Some("invalid")) => Some(77),
        ("invalid_wrong_field_type_with_id", Some("invalid")) => Some(78),
        ("invalid_unknown_op_without_id", Some("error"))
        | ("invalid_id_not_an_integer", Some("error"))
        | ("invalid_not_a_map_array", Some("error"))
        | ("invalid_not_a_map_string", Some("error"))
        | ("invalid_not_a_map_integer", Some("error"))
        | ("invalid_not_a_map_one_element_array", Some("error"))
        | ("invalid_not_a_map_array_shaped_like_head", Some("error")) => None,
        (name, decoded) => panic!("invalid vector {name} ({decoded:?}) has no expectation"),
    };
    assert_eq!(expect.get("id").and_then(Value::as_u64), id, "{}", v.name);
    id
}

fn check_invalid(v: &Vector) {
    match (decode_request(&v.bytes), expected_invalid_id(v)) {
        (Ok(Decoded::Invalid { id, message }), Some(want)) => {
            assert_eq!(id, want, "{}", v.name);
            assert!(!message.is_empty(), "{}", v.name);
        }
        (Err(message), None) => assert!(!message.is_empty(), "{}", v.name),
        (other, want) => panic!("{}: expected id {want:?}, got {other:?}", v.name),
    }
}

#[test]
fn invalid_request_vectors_are_answered_or_fatal() {
    let vectors = load("requests.json");
    let invalid: Vec<&Vector> = vectors.iter().filter(|v| v.expect.is_some()).collect();
    assert!(!invalid.is_empty());
    for v in invalid {
        check_invalid(v);
    }
}

#[test]
fn optional_request_fields_may_be_omitted_or_nil() {
    // protocol.md: `overwrite` defaults to true; put's `mode`, `e_tag`, `version` and a stream's
    // `codec` may be omitted or nil.
    for op in ["copy", "rename"] {
        let frame = rmp_serde::to_vec_named(&json!({
            "op": op, "store": 1, "from": "a", "to": "b", "id": 30,
        }))
        .expect("encode");
        match decode_request(&frame) {
            Ok(Decoded::Request(Request::Copy(r) | Request::Rename(r))) => {
                assert!(r.overwrite, "{op}");
                assert_eq!((r.id, r.from.as_str(), r.to.as_str()), (30, "a", "b"));
            }
            other => panic!("expected a {op} request, got {other:?}"),
        }
    }
    let frame = rmp_serde::to_vec_named(&json!({
        "op": "put", "store": 1, "path": "k", "region": [0, 1], "mode": null, "e_tag": null,
        "version": null, "id": 31,
    }))
    .expect("encode");
    match decode_request(&frame) {
        Ok(Decoded::Request(Request::Put(r))) => {
            assert_eq!((r.mode, r.e_tag, r.version), (None, None, None));
        }
        other => panic!("expected a put request, got {other:?}"),
    }
    for op in ["read_open", "write_open"] {
        let frame = rmp_serde::to_vec_named(&json!({
            "op": op, "store": 1, "path": "k", "codec": null, "id": 32,
        }))
        .expect("encode");
        match decode_request(&frame) {
            Ok(Decoded::Request(Request::ReadOpen(r) | Request::WriteOpen(r))) => {
                assert_eq!(r.codec, None, "{op}");
            }
            other => panic!("expected a {op} request, got {other:?}"),
        }
    }
}

#[test]
fn register_accepts_nil_for_its_optional_maps() {
    let frame = rmp_serde::to_vec_named(&serde_json::json!({
        "op": "register", "store": 3, "url": "memory:///", "options": null, "client": null,
        "retry": null,
    }))
    .expect("encode");
    match decode_request(&frame) {
        Ok(Decoded::Request(Request::Register(r))) => {
            assert_eq!(r.store, 3);
            assert!(r.config.options.is_empty());
        }
        other => panic!("expected a register request, got {other:?}"),
    }
}

fn meta_a() -> Meta {
    Meta {
        path: "dir/a.txt".into(),
        size: 11,
        last_modified_ns: 1_700_000_000_123_456_000,
        e_tag: Some("\"9b2cf535f27731c974343645a3985328\"".into()),
        version: None,
        attributes: None,
    }
}

fn meta_b() -> Meta {
    Meta {
        path: "dir/\u{fc}ber.txt".into(),
        size: 5 << 30,
        last_modified_ns: -1_000_000_000,
        e_tag: None,
        version: Some("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY".into()),
        attributes: None,
    }
}

fn meta_c() -> Meta {
    Meta {
        path: "dir/zero".into(),
        size: 0,
        last_modified_ns: 0,
        e_tag: Some("0x8DC1E2F3A4B5C6D".into()),
        version: None,
        attributes: None,
    }
}

/// What this crate's encoder writes for each response vector.
fn encoded_response(name: &str) -> Vec<u8> {
    let ok = |id: u64, success: Success| encode_response(id, &Ok(success));
    match name {
        "hello" => encode_hello(268_435_456, 512),
        "error_with_status" => encode_response(
            7,
            &Err(ErrorInfo {
                kind: Kind::NotFound,
                message: "Object at location dir/a.txt not found".into(),
                status: Some(404),
                local_file: None,
            }),
        ),
        "error_without_status" => encode_response(
            0,
            &Err(ErrorInfo::new(
                Kind::Protocol,
                "frame length 4194305 is over the 4194304-byte limit",
            )),
        ),
        "error_local_file" => encode_response(
            80,
            &Err(ErrorInfo {
                kind: Kind::LocalFile,
                message: "creating a temp file beside it: No such file or directory".into(),
                status: None,
                local_file: Some((2, "/data/object.bin".into())),
            }),
        ),
        "success_downloads" => ok(
            81,
            Success::Sizes {
                sizes: vec![65536, 0],
                failed: vec![(
                    1,
                    ErrorInfo {
                        kind: Kind::NotFound,
                        message: "Object at location t/\u{fc}ber.bin not found".into(),
                        status: Some(404),
                        local_file: None,
                    },
                )],
            },
        ),
        "success_empty" => ok(8, Success::Empty),
        "success_get" => ok(
            9,
            Success::Get {
                size: 11,
                start: 0,
                written: 11,
                meta: meta_a(),
            },
        ),
        "success_get_suffix" => ok(
            31,
            Success::Get {
                size: 8,
                start: 1000,
                written: 8,
                meta: Meta {
                    path: "data.parquet".into(),
                    size: 1008,
                    version: Some(
                        "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo".into(),
                    ),
                    ..meta_a()
                },
            },
        ),
        "success_head" => ok(10, Success::Head { meta: meta_b() }),
        "success_head_attributes" => ok(
            40,
            Success::Head {
                meta: Meta {
                    attributes: Some(vec![
                        ("Content-Type".into(), "text/csv".into()),
                        ("owner".into(), "etl".into()),
                    ]),
                    ..meta_c()
                },
            },
        ),
        "success_put_with_e_tag_and_version" => ok(
            11,
            Success::Put {
                e_tag: Some("\"5d41402abc4b2a76b9719d911017c592\"".into()),
                version: Some("v-0001".into()),
            },
        ),
        "success_put_without_e_tag_or_version" => ok(
            12,
            Success::Put {
                e_tag: None,
                version: None,
            },
        ),
        "success_upload" => ok(13, Success::Upload { upload: 1 << 32 }),
        "success_sign" => ok(
            36,
            Success::Signed {
                url: "https://b.s3.amazonaws.com/k?X-Amz-Expires=3600&X-Amz-Signature=ab12".into(),
            },
        ),
        "success_list_with_cursor" => ok(
            14,
            Success::List {
                entries: vec![meta_a(), meta_b(), meta_c()],
                prefixes: vec![],
                cursor: Some(3),
            },
        ),
        "success_list_done" => ok(
            u64::MAX,
            Success::List {
                entries: vec![],
                prefixes: vec![],
                cursor: None,
            },
        ),
        "success_list_one_level" => ok(
            33,
            Success::List {
                entries: vec![meta_a()],
                prefixes: vec!["dir/sub".into(), "dir/\u{fc}ber".into()],
                cursor: None,
            },
        ),
        "error_data" => encode_response(
            21,
            &Err(ErrorInfo::new(
                Kind::Data,
                "cannot decompress logs/day.zst with zstd: Unknown frame descriptor",
            )),
        ),
        "success_bulk_delete_with_failures" => ok(
            16,
            Success::BulkDelete {
                failed: vec![
                    (
                        "dir/\u{fc}ber.txt".into(),
                        ErrorInfo {
                            kind: Kind::Permission,
                            message: "Access Denied".into(),
                            status: Some(403),
                            local_file: None,
                        },
                    ),
                    (
                        "dir//bad".into(),
                        ErrorInfo::new(
                            Kind::InvalidPath,
                            "Path \"dir//bad\" contained empty path segment",
                        ),
                    ),
                ],
            },
        ),
        "success_bulk_delete_none_failed" => ok(28, Success::BulkDelete { failed: vec![] }),
        "success_stream" => ok(23, Success::Stream { stream: 1 << 32 }),
        "success_read_open" => ok(
            20,
            Success::ReadOpen {
                stream: 3,
                meta: meta_a(),
            },
        ),
        "success_read_more" => ok(
            21,
            Success::Read {
                written: 65536,
                eof: false,
            },
        ),
        "success_read_eof" => ok(
            29,
            Success::Read {
                written: 11,
                eof: true,
            },
        ),
        "success_metrics" => ok(
            27,
            Success::Metrics {
                http_requests: 12345,
                retries: 2,
                latency: vec![("get", {
                    let mut h = crate::latency::Histogram::default();
                    h.record(std::time::Duration::from_micros(1000));
                    h.record(std::time::Duration::from_micros(1000));
                    h.record(std::time::Duration::from_micros(1100));
                    h
                })],
                http_latency: vec![],
                heap_bytes: 1 << 20,
                rss_bytes: Some(100 << 20),
            },
        ),
        other => panic!("response vector {other} has no construction in vectors.rs"),
    }
}

#[test]
fn response_vectors_are_what_the_encoder_writes() {
    let vectors = load("responses.json");
    assert!(!vectors.is_empty());
    for v in &vectors {
        let encoded = encoded_response(&v.name);
        assert_eq!(hex(&encoded), hex(&v.bytes), "{}: encoder bytes", v.name);
        // The bytes also say what the vector's message says. serde_json has no value for a
        // msgpack timestamp (a list page's `{"$timestamp_ns": n}`): tests/test_vectors.py checks
        // those messages against the bytes.
        if v.message.to_string().contains("$timestamp_ns") {
            continue;
        }
        let value: Value = rmp_serde::from_slice(&v.bytes)
            .unwrap_or_else(|e| panic!("{}: not msgpack: {e}", v.name));
        assert_eq!(value, v.message, "{}: message", v.name);
    }
}

#[test]
fn hello_vector_names_this_crate() {
    let vectors = load("responses.json");
    let hello = vectors.iter().find(|v| v.name == "hello").expect("hello");
    assert_eq!(hello.message["worker_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        hello.message["protocol"],
        crate::codec::PROTOCOL_VERSION as u64
    );
    assert_eq!(hello.message["max_frame"], crate::codec::MAX_FRAME as u64);
    assert_eq!(hello.message["features"], json!(crate::codec::FEATURES));
}
