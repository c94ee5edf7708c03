//! `gather_order`: the order of channels inside each group of a static reorder, chosen so
//! that the quantize kernels' gathers do not collide in shared-memory banks.
//!
//! Runtime Smooth with a fixed (calibrated) reorder quantizes position q of a row from
//! channel `perm[q]`. The quantize kernels stage the row in shared memory and gather from it:
//! the thread of word w (positions 8w … 8w + 7) reads one position a load, and the 32
//! threads of a warp hold 32 consecutive words. So load i of a warp reads the channels at
//! positions 8w + i of its 32 words. Channels sorted by size fall in banks at random: about
//! 3–4 of the 32 share a bank, and the load takes that many shared-memory wavefronts instead
//! of one.
//!
//! Only which channels share a group matters to the result. A group's channels share one
//! smoothing scale, and the GEMM sums a group's products as exact integers, in any order. So
//! [`spread_banks`] may move channels within their group. It picks, for every warp's loads,
//! channels in different banks. With INT4 weights the layer's output stays the same bit for
//! bit: on the CPU reference, the CUDA kernels and WGSL's dp4a GEMMs (`RrsLinear` runs
//! GPTQ in the sorted order and moves its codes with their channels). WGSL's tensor-core
//! GEMM is exact only to its stated bound (`gemm.rs`), and it stays within that bound.
//!
//! It balances the three row layouts the kernels stage at once: CUDA's f16 rows (two
//! channels a 4-byte bank word), CUDA's f32 rows (one), and the WGSL kernel's f32 rows (a
//! word of padding every 8 channels). On a random order of k = 8192 in groups of 128 that
//! takes a warp's loads from about 3.6 wavefronts to about 2 in each layout (the unit tests).
//!
//! Measured on an H200 (BENCHMARKS.md), with the CUDA static RRS layer at M = 2048,
//! N = K = 8192, f16 rows:
//! - the quantize kernel's shared-memory load wavefronts fell from 1.95 M to 1.18 M;
//! - its time fell from 21.0–22.4 µs to 18.6–20.5 µs.
//!
//! The layer was 0.5–1% faster with f16 rows at M = 4096. With f32 rows, and on Vulkan, it
//! was level, within the spread. `RRS_SPREAD_BANKS=0` keeps the sorted order, for A/B runs.

/// Positions a warp's 32 words cover (32 threads × 8 codes).
const WARP_POSITIONS: usize = 256;
/// Codes a packed word holds: the loads of one thread.
const LOADS: usize = 8;
/// Shared-memory banks.
const BANKS: usize = 32;

/// The row layouts the quantize kernels stage: f16 (CUDA, two channels a 4-byte word), f32
/// (CUDA), and f32 with a word of padding every 8 (`shaders/quantize.wgsl`'s `staged`).
const LAYOUTS: usize = 3;

/// The shared-memory bank of channel c in each layout.
fn banks(c: u32) -> [usize; LAYOUTS] {
    [
        (c >> 1) as usize % BANKS,
        c as usize % BANKS,
        (c + (c >> 3)) as usize % BANKS,
    ]
}

/// The 4-byte word of channel c in each layout (lanes reading one word: one access).
fn word(c: u32, layout: usize) -> u32 {
    if layout == 0 {
        c >> 1
    } else {
        c
    }
}

/// The warp load (block of 256 positions, load i) that reads position q.
fn load_of(q: usize) -> usize {
    (q / WARP_POSITIONS) * LOADS + q % LOADS
}

/// Bank counts of each warp load, per layout.
struct Loads {
    counts: Vec<[[u16; BANKS]; LAYOUTS]>,
}

impl Loads {
    fn new(order: &[u32]) -> Loads {
        let mut counts =
            vec![[[0u16; BANKS]; LAYOUTS]; order.len().div_ceil(WARP_POSITIONS) * LOADS];
        for (q, &c) in order.iter().enumerate() {
            for (layout, b) in banks(c).into_iter().enumerate() {
                counts[load_of(q)][layout][b] += 1;
            }
        }
        Loads { counts }
    }

    /// Σ over the layouts of the squared count at channel c's bank in load l: the part of
    /// the cost that moving c in or out of load l changes.
    fn cost(&self, l: usize, c: u32) -> i64 {
        banks(c)
            .into_iter()
            .enumerate()
            .map(|(layout, b)| (self.counts[l][layout][b] as i64).pow(2))
            .sum()
    }

    fn add(&mut self, l: usize, c: u32, delta: i16) {
        for (layout, b) in banks(c).into_iter().enumerate() {
            let n = &mut self.counts[l][layout][b];
            *n = n.wrapping_add_signed(delta);
        }
    }

    /// Channel a from load la to load lb, and channel b the other way.
    fn exchange(&mut self, la: usize, a: u32, lb: usize, b: u32) {
        self.add(la, a, -1);
        self.add(lb, b, -1);
        self.add(la, b, 1);
        self.add(lb, a, 1);
    }
}

/// `order` with the channels of each group of `group` consecutive positions rearranged
/// among that group's positions, so that the quantize kernels' warp loads (see the module
/// docs) read channels in different shared-memory banks, in each staged row layout. Every
/// group keeps its set of channels, so the INT4 layer computes the same output bit for bit. Deterministic (a fixed-seed local search that swaps two positions of
/// a group where that lowers the sum over loads and banks of the squared bank counts). For
/// a static reorder; [`RrsLinear`](crate::RrsLinear) applies it to its calibrated order.
pub fn spread_banks(order: &[u32], group: usize) -> Vec<u32> {
    let mut order = order.to_vec();
    let k = order.len();
    if group < 2 || k < 2 {
        return order;
    }
    let mut loads = Loads::new(&order);
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n as u64) as usize
    };
    // 40 proposals a position: on a random order of k = 8192 in groups of 128, 10 leave 2%
    // more wavefronts and 200 or 1000 none fewer.
    for _ in 0..40 * k {
        let g0 = next(k.div_ceil(group)) * group;
        let len = group.min(k - g0);
        let (p, q) = (g0 + next(len), g0 + next(len));
        let (lp, lq) = (load_of(p), load_of(q));
        if lp == lq {
            continue;
        }
        let (a, b) = (order[p], order[q]);
        let cost = |l: &Loads| l.cost(lp, a) + l.cost(lq, b) + l.cost(lp, b) + l.cost(lq, a);
        let before = cost(&loads);
        loads.exchange(lp, a, lq, b);
        if cost(&loads) < before {
            order.swap(p, q);
        } else {
            loads.exchange(lp, b, lq, a);
        }
    }
    order
}

/// Packed INT4 rows ([rows, k / 8] u32, 8 codes a word, lower position in the lower nibble)
/// whose columns follow the channel order `from`, rearranged to follow `to` (a permutation
/// of the same channels): the code of channel c moves from c's position in `from` to its
/// position in `to` (a gather of positions, as [`crate::permute::reference`] does it).
pub(crate) fn move_codes(packed: &[u32], k: usize, from: &[u32], to: &[u32]) -> Vec<u32> {
    let mut at = vec![0u32; k];
    for (q, &c) in from.iter().enumerate() {
        at[c as usize] = q as u32;
    }
    let positions: Vec<u32> = to.iter().map(|&c| at[c as usize]).collect();
    crate::permute::reference(packed, k, &positions)
}

/// Shared-memory wavefronts the quantize kernels' gathers take for `order`, for staged rows
/// of CUDA's f16 and f32 kernels and of the WGSL kernel: the sum over warp loads of the most
/// distinct 4-byte words any one bank serves (32 lanes a warp; a word read by several lanes
/// is one access).
pub fn gather_wavefronts(order: &[u32]) -> [usize; LAYOUTS] {
    let mut sum = [0; LAYOUTS];
    for block in order.chunks(WARP_POSITIONS) {
        for i in 0..LOADS {
            let lanes: Vec<u32> = block.iter().skip(i).step_by(LOADS).copied().collect();
            for (layout, total) in sum.iter_mut().enumerate() {
                let mut words: Vec<(usize, u32)> = lanes
                    .iter()
                    .map(|&c| (banks(c)[layout], word(c, layout)))
                    .collect();
                words.sort_unstable();
                words.dedup();
                let mut per_bank = [0usize; BANKS];
                for (b, _) in words {
                    per_bank[b] += 1;
                }
                *total += per_bank.into_iter().max().unwrap_or(0);
            }
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A random permutation of 0 … k − 1 (a fixed-seed shuffle).
    fn shuffled(k: usize, seed: u64) -> Vec<u32> {
        let mut v: Vec<u32> = (0..k as u32).collect();
        let mut rng = crate::workload::Rng::new(seed);
        for i in (1..k).rev() {
            v.swap(i, rng.below(i + 1));
        }
        v
    }

    #[test]
    fn groups_keep_their_channels_and_loads_spread() {
        for (k, group) in [
            (8192, 128),
            (4096, 128),
            (4096, 64),
            (2048, 256),
            (576, 32),
            (1000, 100),
        ] {
            let order = shuffled(k, k as u64 + group as u64);
            let spread = spread_banks(&order, group);
            for (a, b) in order.chunks(group).zip(spread.chunks(group)) {
                let (mut a, mut b) = (a.to_vec(), b.to_vec());
                a.sort_unstable();
                b.sort_unstable();
                assert_eq!(a, b, "k = {k}, group = {group}: a group's channels changed");
            }
            let before = gather_wavefronts(&order);
            let after = gather_wavefronts(&spread);
            // One wavefront a load is the floor for a load; for a random set of channels
            // about two is (a warp's 256 channels put more than 8 in about half the banks,
            // so most of its 8 loads must take two of some bank). A random order takes about
            // 3.6. (The identity order is no test: the WGSL layout's padding already gives it
            // one wavefront a load.)
            let loads = k.div_ceil(WARP_POSITIONS) * LOADS;
            for (a, b) in after.iter().zip(before) {
                assert!(*a < b, "k = {k}, group = {group}: {before:?} → {after:?}");
                if k % WARP_POSITIONS == 0 && group % LOADS == 0 {
                    assert!(
                        *a <= loads * 22 / 10,
                        "k = {k}, group = {group}: {after:?} wavefronts for {loads} loads \
                         (from {before:?})"
                    );
                }
            }
        }
    }

    #[test]
    fn codes_move_with_their_channels() {
        let k = 32;
        let from = shuffled(k, 7);
        let to = spread_banks(&from, 16);
        // Two rows; the code of channel c in row r is (c + r) % 16, at c's position in `from`.
        let pack = |order: &[u32], r: u32| -> Vec<u32> {
            (0..k / 8)
                .map(|w| (0..8).fold(0, |word, i| word | ((order[8 * w + i] + r) % 16) << (4 * i)))
                .collect()
        };
        let packed: Vec<u32> = [pack(&from, 0), pack(&from, 1)].concat();
        let moved = move_codes(&packed, k, &from, &to);
        assert_eq!(moved, [pack(&to, 0), pack(&to, 1)].concat());
    }

    #[test]
    fn trivial_inputs_pass_through() {
        assert_eq!(spread_banks(&[], 128), Vec::<u32>::new());
        assert_eq!(spread_banks(&[3, 1, 2, 0], 1), vec![3, 1, 2, 0]);
    }
}
