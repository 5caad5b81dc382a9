//! Folding BN into convs leaves eval-mode outputs unchanged on every built-in architecture.

use burn::tensor::{Device, Distribution, Tensor};
use rand::{Rng, SeedableRng, rngs::StdRng};
use shears_ir::Op;
use shears_ir::zoo::{self, ArchSpec};
use shears_runtime::{Mode, Network, host_values};

#[test]
fn folded_batch_norm_gives_the_same_outputs() {
    let device = Device::flex();
    let mut rng = StdRng::seed_from_u64(3);
    for name in zoo::NAMES {
        let mut graph = zoo::build(
            name,
            &ArchSpec {
                input_shape: [3, 16, 16],
                classes: 10,
                seed: 1,
            },
        )
        .unwrap();
        // Non-trivial statistics, so the fold has something to get wrong.
        for node in &mut graph.nodes {
            if let Op::BatchNorm2d(bn) = &mut node.op {
                for array in [&mut bn.gamma, &mut bn.beta, &mut bn.mean] {
                    array
                        .data
                        .iter_mut()
                        .for_each(|v| *v = rng.random_range(-1.0..1.0));
                }
                bn.var
                    .data
                    .iter_mut()
                    .for_each(|v| *v = rng.random_range(0.2..2.0));
            }
        }
        let folded = graph.fold_batch_norms();
        let bns = |g: &shears_ir::Graph| {
            g.nodes
                .iter()
                .filter(|n| matches!(n.op, Op::BatchNorm2d(_)))
                .count()
        };
        assert!(
            bns(&folded) < bns(&graph) || bns(&graph) == 0,
            "{name}: nothing folded"
        );
        let x = Tensor::<4>::random([2, 3, 16, 16], Distribution::Normal(0.0, 1.0), &device);
        let plain = host_values(
            Network::new(&graph, &device)
                .unwrap()
                .forward(x.clone(), Mode::Eval),
        );
        let fused = host_values(
            Network::new(&folded, &device)
                .unwrap()
                .forward(x, Mode::Eval),
        );
        for (a, b) in plain.iter().zip(&fused) {
            assert!(
                (a - b).abs() <= 1e-3 * (1.0 + a.abs()),
                "{name}: {a} vs {b}"
            );
        }
    }
}
