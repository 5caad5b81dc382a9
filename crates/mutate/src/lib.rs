//! The fuzz suites' shared parts: seeded byte mutations of a valid file, and a harness that
//! runs a reader on each mutant and fails on a panic or a hang (an abort ends the test process,
//! which fails it too). How many mutants: `SHEARS_FUZZ_MUTANTS`, else the suite's default.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

/// A single mutant taking longer than this counts as a hang.
pub const HANG: Duration = Duration::from_secs(10);

/// The number of mutants to run: `SHEARS_FUZZ_MUTANTS` if set, else `default`.
pub fn mutant_count(default: usize) -> usize {
    std::env::var("SHEARS_FUZZ_MUTANTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// A seeded random source for the suite `name`.
pub fn rng(name: &str) -> StdRng {
    let seed = name
        .bytes()
        .fold(0x5eed_u64, |h, b| h.rotate_left(5) ^ u64::from(b));
    StdRng::seed_from_u64(seed)
}

/// One random change of `bytes`: bit flips, random bytes, an extreme 32-bit word (both byte
/// orders) at a header offset, truncation, a duplicated range or inserted junk.
pub fn mutate(rng: &mut StdRng, bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let at = |rng: &mut StdRng, len: usize| rng.random_range(0..len.max(1));
    match rng.random_range(0..6) {
        0 => {
            for _ in 0..rng.random_range(1..8) {
                let i = at(rng, out.len());
                if let Some(b) = out.get_mut(i) {
                    *b ^= 1 << rng.random_range(0..8);
                }
            }
        }
        1 => {
            for _ in 0..rng.random_range(1..16) {
                let i = at(rng, out.len());
                if let Some(b) = out.get_mut(i) {
                    *b = rng.random();
                }
            }
        }
        2 => {
            let word = [0u32, 1, u32::MAX, 100_000, 0x7FFF_FFFF][rng.random_range(0..5)];
            let bytes = match rng.random_bool(0.5) {
                true => word.to_be_bytes(),
                false => word.to_le_bytes(),
            };
            let i = at(rng, out.len().min(96));
            if out.len() >= i + 4 {
                out[i..i + 4].copy_from_slice(&bytes);
            }
        }
        3 => out.truncate(at(rng, out.len())),
        4 => {
            let (a, b) = (at(rng, out.len()), at(rng, out.len()));
            let range = out[a.min(b)..a.max(b)].to_vec();
            let i = at(rng, out.len());
            out.splice(i..i, range);
        }
        _ => {
            let i = at(rng, out.len());
            let junk: Vec<u8> = (0..rng.random_range(1..64)).map(|_| rng.random()).collect();
            out.splice(i..i, junk);
        }
    }
    out
}

/// What the readers made of a suite's mutants.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub mutants: usize,
    /// Read without error.
    pub read: usize,
    /// Refused with an error.
    pub refused: usize,
}

/// Runs `read` once per mutant (`next` makes each, from the index); fails on a panic or on a
/// mutant slower than [`HANG`]. Prints and returns the tally.
pub fn survive<E>(
    name: &str,
    mutants: usize,
    mut next: impl FnMut(usize),
    read: impl Fn() -> Result<(), E>,
) -> Tally {
    let mut tally = Tally::default();
    for i in 0..mutants {
        next(i);
        let start = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(&read));
        assert!(start.elapsed() < HANG, "{name}: mutant {i} hangs");
        match result {
            Ok(Ok(())) => tally.read += 1,
            Ok(Err(_)) => tally.refused += 1,
            Err(_) => panic!("{name}: mutant {i} panics the reader"),
        }
        tally.mutants += 1;
    }
    println!(
        "fuzz {name}: {} mutants, {} read, {} refused, 0 panics, 0 hangs",
        tally.mutants, tally.read, tally.refused
    );
    tally
}
