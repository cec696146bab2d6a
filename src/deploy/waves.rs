//! Storing the bodies of one upload request a wave at a time (pure): each part is read and
//! decoded only when its wave comes, and every body of a wave is dropped once stored, so an
//! invocation holds one wave's bodies (plus the one part being decoded), never a bucket's.
//! Small files still go several at once (KV puts in flight), large ones alone.

use std::future::Future;
use std::ops::Range;

use crate::join::try_join_limited;

/// Decoded bytes one wave may hold when it has more than one part: a 25 MiB file is a wave of
/// its own, and 200 small files go six at a time as before.
pub const WAVE_BYTES: u64 = 4 * 1024 * 1024;

/// Splits parts of `sizes` (in order) into consecutive waves of at most `max_parts` parts whose
/// sizes add up to at most `max_bytes`; a part larger than that is a wave alone.
pub fn plan_waves(sizes: &[u64], max_parts: usize, max_bytes: u64) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (i, size) in sizes.iter().enumerate() {
        let full = i - start >= max_parts.max(1) || bytes.saturating_add(*size) > max_bytes;
        if i > start && full {
            out.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes = bytes.saturating_add(*size);
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

/// Stores `parts` (a key and the size of its decoded body) wave by wave: `read` yields one
/// part's decoded body (reading and dropping its text), `store` consumes it; a wave's stores run
/// with up to `max_parts` in flight. The first error stops everything (what was stored stays
/// stored: every part was checked before, and a retry stores the rest).
pub async fn store_in_waves<K, E, R, RF, S, SF>(
    parts: &[(K, u64)],
    max_parts: usize,
    max_bytes: u64,
    mut read: R,
    store: S,
) -> Result<(), E>
where
    R: FnMut(&K) -> RF,
    RF: Future<Output = Result<Vec<u8>, E>>,
    S: Fn(&K, Vec<u8>) -> SF,
    SF: Future<Output = Result<(), E>>,
{
    let sizes: Vec<u64> = parts.iter().map(|(_, s)| *s).collect();
    for wave in plan_waves(&sizes, max_parts, max_bytes) {
        let mut bodies = Vec::with_capacity(wave.len());
        for (key, _) in &parts[wave] {
            bodies.push((key, read(key).await?));
        }
        try_join_limited(bodies.into_iter().map(|(key, body)| store(key, body)), max_parts).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::lifecycle::fake::block_on;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn waves_hold_at_most_their_bytes_or_one_large_part() {
        assert_eq!(plan_waves(&[], 6, 10), Vec::<Range<usize>>::new());
        assert_eq!(plan_waves(&[1; 13], 6, 100), vec![0..6, 6..12, 12..13]);
        assert_eq!(plan_waves(&[4, 4, 4, 30, 1], 6, 10), vec![0..2, 2..3, 3..4, 4..5]);
        assert_eq!(plan_waves(&[0, 0], 0, 0), vec![0..1, 1..2], "never an empty wave");
    }

    /// Peak decoded bytes held while a bucket is stored, through a fake store.
    fn peak(sizes: &[u64]) -> (u64, usize) {
        let parts: Vec<(usize, u64)> = sizes.iter().copied().enumerate().collect();
        let (held, peak, stored) = (Cell::new(0u64), Cell::new(0u64), Cell::new(0usize));
        let read = |k: &usize| {
            let size = sizes[*k];
            held.set(held.get() + size);
            peak.set(peak.get().max(held.get()));
            std::future::ready(Ok::<_, ()>(vec![0u8; size as usize]))
        };
        let store = |_: &usize, body: Vec<u8>| {
            stored.set(stored.get() + 1);
            held.set(held.get() - body.len() as u64);
            std::future::ready(Ok::<_, ()>(()))
        };
        block_on(store_in_waves(&parts, 6, WAVE_BYTES, read, store)).unwrap();
        assert_eq!(held.get(), 0);
        (peak.get(), stored.get())
    }

    #[test]
    fn a_bucket_of_large_files_holds_one_body_at_a_time() {
        // Three 24 MiB files and a few small ones, as wrangler may send them in one bucket.
        let sizes = [24 * MIB, MIB, 24 * MIB, 24 * MIB, 10, 20];
        let (held, stored) = peak(&sizes);
        assert_eq!(stored, sizes.len());
        assert!(held <= 24 * MIB, "held {held} bytes at once; a bucket is {}", sizes.iter().sum::<u64>());
        // Small files still go several at a time, within a wave's bytes.
        let (held, _) = peak(&[MIB; 12]);
        assert_eq!(held, 4 * MIB);
    }

    #[test]
    fn the_first_error_stops_the_waves() {
        let parts: Vec<(usize, u64)> = (0..10).map(|i| (i, 3 * MIB)).collect();
        let reads = Cell::new(0);
        let read = |_: &usize| {
            reads.set(reads.get() + 1);
            std::future::ready(Ok::<_, &str>(Vec::new()))
        };
        let store = |k: &usize, _| std::future::ready(if *k == 3 { Err("kv") } else { Ok(()) });
        assert_eq!(block_on(store_in_waves(&parts, 6, WAVE_BYTES, read, store)), Err("kv"));
        assert_eq!(reads.get(), 4, "no part after the failed wave is read");
    }
}
