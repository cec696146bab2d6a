//! The pseudo-random input generator of the native property tests (no extra crates): xorshift
//! over a fixed seed, so every failure reproduces.

pub struct Gen(pub u64);

impl Gen {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    /// Up to `max - 1` pieces joined.
    pub fn string(&mut self, pieces: &[&str], max: u64) -> String {
        let n = self.below(max);
        (0..n).map(|_| self.pick(pieces)).collect()
    }
}
