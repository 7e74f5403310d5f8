//! The request decoder and the frame reader against arbitrary bytes and mutated golden vectors,
//! with panics counted: every input is a request, an invalid request (answered with a protocol
//! error) or an error; none panics, and none gets a frame past the frame limit. A short run is a
//! test; `FUZZ_INPUTS=5000000 cargo test --release fuzz -- --nocapture` is a long one.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::codec::{decode_request, MAX_FRAME};
use crate::server::read_frame;
use crate::vectors;

/// xorshift64*: reproducible, and enough to shake a decoder.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn inputs() -> usize {
    std::env::var("FUZZ_INPUTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000)
}

/// A golden vector with a few bytes changed, cut, doubled or inserted; or plain noise.
fn mutant(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    if rng.below(8) == 0 {
        let len = rng.below(64);
        let mut noise = rng.bytes(len);
        if let Some(first) = noise.first_mut() {
            *first = 0x80 | (*first & 0x0f); // a map header, so that serde gets to see it
        }
        return noise;
    }
    let mut input = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(input.len() + 1);
        match rng.below(5) {
            0 if at < input.len() => input[at] ^= 1 << rng.below(8),
            1 if at < input.len() => input[at] = rng.next() as u8,
            2 => input.truncate(at),
            3 => {
                let tail = input[at..].to_vec();
                input.extend_from_slice(&tail);
            }
            _ => {
                let len = 1 + rng.below(8);
                let noise = rng.bytes(len);
                input.splice(at..at, noise);
            }
        }
    }
    input
}

#[test]
fn fuzz_the_request_decoder_with_panics_counted() {
    let seeds: Vec<Vec<u8>> = vectors::load("requests.json")
        .into_iter()
        .map(|v| v.bytes)
        .collect();
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let (mut panics, mut requests, mut invalid, mut errors) = (0, 0, 0, 0);
    let mut first_panic = None;
    let n = inputs();
    for _ in 0..n {
        let input = mutant(&mut rng, &seeds);
        match catch_unwind(AssertUnwindSafe(|| decode_request(&input))) {
            Ok(Ok(crate::codec::Decoded::Request(_))) => requests += 1,
            Ok(Ok(crate::codec::Decoded::Invalid { .. })) => invalid += 1,
            Ok(Err(_)) => errors += 1,
            Err(_) => {
                panics += 1;
                first_panic.get_or_insert(input);
            }
        }
    }
    println!(
        "{n} inputs: {requests} requests, {invalid} invalid, {errors} errors, {panics} panics"
    );
    assert_eq!(panics, 0, "first panicking input: {first_panic:02x?}");
    assert!(
        requests > 0 && invalid > 0 && errors > 0,
        "the mutants reach every outcome"
    );
}

#[test]
fn fuzz_the_frame_reader_with_panics_counted() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let mut panics = 0;
    for _ in 0..inputs() / 20 {
        // Frames with headers of any length, most of them near or past the limit, then noise.
        let mut stream = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let len = match rng.below(4) {
                0 => rng.below(64) as u32,
                1 => (MAX_FRAME as u32)
                    .wrapping_add(rng.below(3) as u32)
                    .wrapping_sub(1),
                _ => rng.next() as u32,
            };
            stream.extend_from_slice(&len.to_be_bytes());
            let noise = rng.below(96);
            stream.extend(rng.bytes(noise));
        }
        let mut input = Cursor::new(stream);
        let mut body = Vec::new();
        let outcome = catch_unwind(AssertUnwindSafe(|| loop {
            match read_frame(&mut input, &mut body) {
                Ok(Some(())) => assert!(body.len() <= MAX_FRAME && !body.is_empty()),
                Ok(None) | Err(_) => return,
            }
        }));
        if outcome.is_err() {
            panics += 1;
        }
    }
    assert_eq!(panics, 0);
}
