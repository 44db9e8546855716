//! Blocks of a profile (SPEC §18.1): the runs of one value of the switched variable run
//! together, so that the machines are switched once per value. The order of the blocks and the
//! order inside each block are seeded shuffles (declaration and plan order with
//! `order: sequential`).

use crate::plan::fnv1a;
use crate::spec::{Experiment, Order};

/// The switched variable's value indices in block order; empty without a profile.
pub(crate) fn block_order(exp: &Experiment) -> Vec<u32> {
    let Some(p) = &exp.profile else {
        return Vec::new();
    };
    let count = exp.variables[p.variable].values.len() as u32;
    let mut order: Vec<u32> = (0..count).collect();
    if exp.order == Order::Shuffle {
        let seed = fnv1a(exp.seed.as_bytes()) ^ fnv1a(b"blocks");
        fastrand::Rng::with_seed(seed).shuffle(&mut order);
    }
    order
}

/// Reorders `runs` (already in their seeded order; the plan's compact runs) into blocks: by the
/// rank of their value in `order`, keeping the order of the runs of one value. `cell` gives a
/// run's value index of the switched variable. Every run stays, once.
pub(crate) fn into_blocks(runs: &mut [u32], order: &[u32], cell: impl Fn(u32) -> u32) {
    if order.is_empty() {
        return;
    }
    let mut rank = vec![usize::MAX; order.iter().map(|&c| c as usize + 1).max().unwrap_or(0)];
    for (i, &c) in order.iter().enumerate() {
        rank[c as usize] = i;
    }
    runs.sort_by_key(|r| rank.get(cell(*r) as usize).copied().unwrap_or(usize::MAX));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(order: &str, seed: &str) -> Experiment {
        let text = format!(
            "order: {order}\nseed: {seed}\nruns: 3\nvariables:\n  size: [1, 2, 3]\n  profile:\n    values: [a, b, c, d]\n    switch:\n      - run: echo {{{{ profile }}}}\nsteps:\n  - run: 'true'\n"
        );
        crate::spec::parse_experiment(std::path::Path::new("e.yaml"), &text).unwrap()
    }

    fn blocks_of(e: &Experiment) -> Vec<(u32, usize, usize)> {
        let plan = crate::plan::plan(e).unwrap();
        let var = e.profile.as_ref().unwrap().variable;
        plan.runs()
            .map(|r| (plan.point_cells(r.point)[var], r.point, r.repetition))
            .collect()
    }

    #[test]
    fn runs_come_in_blocks_every_run_once_seeded() {
        let e = exp("shuffle", "s1");
        let runs = blocks_of(&e);
        assert_eq!(runs.len(), 3 * 4 * 3);
        // Every (point, repetition) once.
        let mut seen: Vec<(usize, usize)> = runs.iter().map(|&(_, p, r)| (p, r)).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), runs.len());
        // Contiguous blocks: the value changes exactly three times.
        let changes = runs.windows(2).filter(|w| w[0].0 != w[1].0).count();
        assert_eq!(changes, 3);
        let order: Vec<u32> = runs.iter().map(|r| r.0).fold(Vec::new(), |mut v, c| {
            if v.last() != Some(&c) {
                v.push(c);
            }
            v
        });
        assert_eq!(order, block_order(&e));
        // The same seed, the same order; another seed, another (block or inner) order.
        assert_eq!(blocks_of(&exp("shuffle", "s1")), runs);
        assert_ne!(blocks_of(&exp("shuffle", "s2")), runs);
        // Inside a block the runs are shuffled, not in plan order.
        let first: Vec<(usize, usize)> = runs[..9].iter().map(|&(_, p, r)| (p, r)).collect();
        let mut sorted = first.clone();
        sorted.sort_by_key(|&(p, r)| (r, p));
        assert_ne!(first, sorted);
    }

    #[test]
    fn sequential_keeps_declaration_order() {
        let e = exp("sequential", "s1");
        assert_eq!(block_order(&e), vec![0, 1, 2, 3]);
        let runs = blocks_of(&e);
        let values: Vec<u32> = runs.iter().map(|r| r.0).collect();
        let mut sorted = values.clone();
        sorted.sort();
        assert_eq!(values, sorted);
    }

    #[test]
    fn block_order_is_a_seeded_permutation() {
        let mut seen = std::collections::HashSet::new();
        for seed in ["a", "b", "c", "d", "e", "f"] {
            let o = block_order(&exp("shuffle", seed));
            let mut s = o.clone();
            s.sort();
            assert_eq!(s, vec![0, 1, 2, 3]);
            assert_eq!(block_order(&exp("shuffle", seed)), o);
            seen.insert(o);
        }
        assert!(seen.len() > 1, "the seed changes the block order");
    }
}
