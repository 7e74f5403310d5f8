//! Command-line arguments: the arena and the worker's limits. Nothing secret is ever passed here.

use std::os::fd::RawFd;

pub struct Args {
    pub arena_fd: RawFd,
    pub arena_size: u64,
    pub concurrency: usize,
    pub cache_capacity: usize,
    pub cache_ttl_secs: u64,
    pub cache_tti_secs: u64,
}

const USAGE: &str =
    "usage: rustyobjectstore-worker --arena-fd FD --arena-size BYTES [--concurrency N] \
[--cache-capacity N] [--cache-ttl-secs S] [--cache-tti-secs S]
       rustyobjectstore-worker --check-option-names URL [NAME...]
       rustyobjectstore-worker --version";

fn number<T: std::str::FromStr>(flag: &str, value: Option<String>) -> Result<T, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
    value
        .parse()
        .map_err(|_| format!("{flag} takes a non-negative integer, got {value:?}\n{USAGE}"))
}

impl Args {
    pub fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut arena_fd = None;
        let mut arena_size = None;
        let mut args = Args {
            arena_fd: -1,
            arena_size: 0,
            concurrency: 512,
            cache_capacity: 20,
            cache_ttl_secs: 1800,
            cache_tti_secs: 300,
        };
        while let Some(flag) = argv.next() {
            match flag.as_str() {
                "--arena-fd" => arena_fd = Some(number(&flag, argv.next())?),
                "--arena-size" => arena_size = Some(number(&flag, argv.next())?),
                "--concurrency" => args.concurrency = number(&flag, argv.next())?,
                "--cache-capacity" => args.cache_capacity = number(&flag, argv.next())?,
                "--cache-ttl-secs" => args.cache_ttl_secs = number(&flag, argv.next())?,
                "--cache-tti-secs" => args.cache_tti_secs = number(&flag, argv.next())?,
                "--check-option-names" => {
                    // Names only (never values, which may be secrets): exit 0 if a store of the
                    // URL takes them all, else 3 with the error on stdout.
                    let url = argv
                        .next()
                        .ok_or_else(|| format!("{flag} needs a URL\n{USAGE}"))?;
                    let names: Vec<String> = argv.collect();
                    match crate::stores::check_option_names(&url, &names) {
                        Ok(()) => std::process::exit(0),
                        Err(e) => {
                            println!("{}", e.message);
                            std::process::exit(3);
                        }
                    }
                }
                "--version" => {
                    println!(
                        "rustyobjectstore-worker {} (protocol {})",
                        env!("CARGO_PKG_VERSION"),
                        crate::codec::PROTOCOL_VERSION
                    );
                    std::process::exit(0);
                }
                other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
            }
        }
        args.arena_fd = arena_fd.ok_or_else(|| format!("--arena-fd is required\n{USAGE}"))?;
        args.arena_size = arena_size.ok_or_else(|| format!("--arena-size is required\n{USAGE}"))?;
        Ok(args)
    }
}
