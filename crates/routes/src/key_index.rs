//! Finding a key hash among a table's keys. The keys are sorted by hash and sha256 digests are
//! spread evenly, so a digest's first bits say almost exactly where it sits: an array of bucket
//! starts, one `u32` per key, finds it with two reads and a short search, where a hash map took
//! about 80 bytes per key (80 MB for a million keys).

use crate::key::KeyHash;

#[derive(Debug, Default)]
pub(crate) struct KeyIndex {
    /// Bits of the digest's first four bytes that pick a bucket.
    bits: u32,
    /// `starts[b]`: the first key whose bucket is `b` or later; one more entry than buckets.
    starts: Box<[u32]>,
}

/// At most 2^24 buckets (64 MiB of index), enough for a key per bucket up to 16 million keys.
const MAX_BITS: u32 = 24;

impl KeyIndex {
    /// `keys` sorted by `sha256`, as [`crate::RoutesFile::keys`] are.
    pub(crate) fn new(keys: &[KeyHash]) -> KeyIndex {
        debug_assert!(keys.windows(2).all(|w| w[0].sha256 <= w[1].sha256));
        let bits = (usize::BITS - keys.len().leading_zeros()).min(MAX_BITS);
        let buckets = 1usize << bits;
        let mut starts = Vec::with_capacity(buckets + 1);
        let mut next = 0usize;
        for bucket in 0..buckets {
            while next < keys.len() && bucket_of(&keys[next].sha256, bits) < bucket {
                next += 1;
            }
            starts.push(next as u32);
        }
        starts.push(keys.len() as u32);
        KeyIndex {
            bits,
            starts: starts.into_boxed_slice(),
        }
    }

    /// The position of `digest` in `keys` (the slice the index was built from).
    pub(crate) fn find(&self, keys: &[KeyHash], digest: &[u8; 32]) -> Option<usize> {
        if self.starts.is_empty() {
            return None;
        }
        let bucket = bucket_of(digest, self.bits);
        let (start, end) = (
            self.starts[bucket] as usize,
            self.starts[bucket + 1] as usize,
        );
        keys[start..end]
            .binary_search_by(|k| k.sha256.cmp(digest))
            .ok()
            .map(|i| start + i)
    }
}

fn bucket_of(digest: &[u8; 32], bits: u32) -> usize {
    let prefix = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    (u64::from(prefix) >> (32 - bits)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(digests: &[[u8; 32]]) -> Vec<KeyHash> {
        let mut keys: Vec<KeyHash> = digests.iter().map(|d| KeyHash::new(*d, None)).collect();
        keys.sort();
        keys
    }

    #[test]
    fn every_key_is_found_and_no_other() {
        for n in [0usize, 1, 2, 3, 7, 100, 1000] {
            let digests: Vec<[u8; 32]> = (0..n)
                .map(|i| {
                    let mut d = [0u8; 32];
                    // Spread, and some sharing their first bytes with a neighbour.
                    d[..8].copy_from_slice(
                        &((i as u64 / 2).wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_be_bytes(),
                    );
                    d[31] = i as u8;
                    d
                })
                .collect();
            let keys = keys(&digests);
            let index = KeyIndex::new(&keys);
            for (i, k) in keys.iter().enumerate() {
                assert_eq!(index.find(&keys, &k.sha256), Some(i), "n={n}");
            }
            assert_eq!(index.find(&keys, &[0xAB; 32]), None);
            if n == 0 {
                assert_eq!(index.find(&keys, &[0; 32]), None);
            }
            assert_eq!(index.find(&keys, &[0xFF; 32]), None);
        }
    }

    #[test]
    fn digests_in_one_bucket_are_still_told_apart() {
        let digests: Vec<[u8; 32]> = (0..50u8)
            .map(|i| {
                let mut d = [0u8; 32];
                d[31] = i;
                d
            })
            .collect();
        let keys = keys(&digests);
        let index = KeyIndex::new(&keys);
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(index.find(&keys, &k.sha256), Some(i));
        }
        let mut absent = [0u8; 32];
        absent[31] = 200;
        assert_eq!(index.find(&keys, &absent), None);
    }
}
