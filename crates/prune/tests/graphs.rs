//! Hand-built graphs for each coupling rule (concat offsets, a conv split by a concat, SE gates,
//! depthwise and grouped convs, softmax and broadcasts), and the errors surgery reports.
//! Every prunable group of every graph is also checked against its mask.

mod common;

use shears_ir::zoo::{self, ArchSpec, Init};
use shears_ir::{Array, Graph, GraphBuilder, Op, OutletId};
use shears_prune::MemberKind::{self, *};
use shears_prune::{
    ChannelGroup, DependencyGraph, Member, PruneError, ValueSlice, mask_group, prune_group,
    prune_groups,
};

/// Global average pool, flatten and a 5-way linear layer on `x` of `channels` channels.
fn head(mut b: GraphBuilder, init: &mut Init, x: OutletId, channels: usize) -> Graph {
    let x = b.op("pool", Op::GlobalAvgPool, &[x]);
    let x = b.op("flatten", Op::Flatten { axis: 1 }, &[x]);
    let x = b.linear("fc", x, init.linear(channels, 5));
    b.finish(x)
}

/// A reader of whole channels (one feature each).
const READS: MemberKind = Reads {
    features_per_channel: 1,
};

fn members(g: &ChannelGroup) -> Vec<(MemberKind, &str, usize)> {
    g.members
        .iter()
        .map(|m| (m.kind, m.name.as_str(), m.offset))
        .collect()
}

fn analyse(graph: &Graph) -> DependencyGraph {
    DependencyGraph::build(graph).unwrap()
}

fn prunable_names(deps: &DependencyGraph) -> Vec<&str> {
    deps.prunable().map(|g| g.name.as_str()).collect()
}

/// Random BN statistics, then every group against its mask.
fn check_prune_equals_mask(mut graph: Graph) {
    common::randomise_bn(&mut graph, 2);
    common::check_every_group(&graph, 6);
}

fn conv_weight<'a>(graph: &'a Graph, name: &str) -> &'a Array {
    match &graph.nodes[graph.node_by_name(name).unwrap()].op {
        Op::Conv2d(c) => &c.weight,
        other => panic!("{name} is {other:?}"),
    }
}

/// Two branches (4 and 6 channels) concatenated, normalised together, then a conv.
fn concat_net() -> Graph {
    let mut init = Init::new(1);
    let (mut b, x) = GraphBuilder::new("concat", vec![3, 8, 8]);
    let a = b.conv("a", x, init.conv(3, 4, 3, 1, 1));
    let a = b.bn("a.bn", a, 4);
    let a = b.op("a.relu", Op::Relu, &[a]);
    let c = b.conv("b", x, init.conv_with_bias(3, 6, 3, 1));
    let c = b.op("b.relu", Op::Relu, &[c]);
    let y = b.op("cat", Op::Concat { axis: 1 }, &[a, c]);
    let y = b.bn("cat.bn", y, 10);
    let y = b.op("cat.act", Op::HardSwish, &[y]);
    let y = b.conv("c", y, init.conv(10, 8, 3, 1, 1));
    let y = b.bn("c.bn", y, 8);
    let y = b.op("c.relu", Op::Relu, &[y]);
    head(b, &mut init, y, 8)
}

#[test]
fn concat_places_each_branch_at_its_offset() {
    let graph = concat_net();
    let deps = analyse(&graph);
    assert_eq!(prunable_names(&deps), ["a", "b", "c"]);
    assert_eq!(
        members(deps.group("a").unwrap()),
        [
            (Filters, "a", 0),
            (Norm, "a.bn", 0),
            (Norm, "cat.bn", 0),
            (READS, "c", 0)
        ]
    );
    let b = deps.group("b").unwrap();
    assert_eq!(
        members(b),
        [(Filters, "b", 0), (Norm, "cat.bn", 4), (READS, "c", 4)]
    );
    let cat = graph.node_by_name("cat").unwrap();
    assert!(b.values.iter().any(|v| v.node == cat && v.offset == 4));
    assert_eq!(
        members(deps.group("c").unwrap()),
        [
            (Filters, "c", 0),
            (Norm, "c.bn", 0),
            (
                Reads {
                    features_per_channel: 1
                },
                "fc",
                0
            )
        ]
    );

    // Channels 1 and 4 of branch b are channels 5 and 8 of the concat.
    let mut pruned = graph.clone();
    prune_group(&mut pruned, b, &[4, 1]).unwrap();
    let (before, after) = (conv_weight(&graph, "c"), conv_weight(&pruned, "c"));
    assert_eq!(after.shape, [8, 8, 3, 3]);
    let kept = [0, 1, 2, 3, 4, 6, 7, 9];
    for o in 0..8 {
        for (j, &i) in kept.iter().enumerate() {
            assert_eq!(
                &after.data[(o * 8 + j) * 9..][..9],
                &before.data[(o * 10 + i) * 9..][..9]
            );
        }
    }
    assert_eq!(conv_weight(&pruned, "b").shape, [4, 3, 3, 3]);
    check_prune_equals_mask(graph);
}

#[test]
fn concat_then_flatten_offsets_whole_channels_of_features() {
    let mut init = Init::new(2);
    let (mut b, x) = GraphBuilder::new("concat_flatten", vec![3, 4, 4]);
    let a = b.conv("a", x, init.conv(3, 4, 3, 1, 1));
    let a = b.op("a.relu", Op::Relu, &[a]);
    let c = b.conv("b", x, init.conv_with_bias(3, 3, 3, 1));
    let c = b.op("b.gate", Op::Sigmoid, &[c]);
    let y = b.op("cat", Op::Concat { axis: 1 }, &[a, c]);
    let y = b.op("flatten", Op::Flatten { axis: 1 }, &[y]);
    let y = b.linear("fc1", y, init.linear(7 * 16, 6));
    let y = b.op("fc1.act", Op::Tanh, &[y]);
    let y = b.linear("fc2", y, init.linear(6, 3));
    let graph = b.finish(y);
    let deps = analyse(&graph);
    let per16 = Reads {
        features_per_channel: 16,
    };
    assert_eq!(
        members(deps.group("a").unwrap()),
        [(Filters, "a", 0), (per16, "fc1", 0)]
    );
    let b = deps.group("b").unwrap();
    assert_eq!(members(b), [(Filters, "b", 0), (per16, "fc1", 64)]);
    assert_eq!(b.members[1].indices(2), 96..112);
    assert_eq!(prunable_names(&deps), ["a", "b", "fc1"]);
    check_prune_equals_mask(graph);
}

#[test]
fn a_conv_added_to_a_concat_splits_into_two_groups() {
    let mut init = Init::new(3);
    let (mut b, x) = GraphBuilder::new("split", vec![3, 8, 8]);
    let d = b.conv("d", x, init.conv(3, 10, 3, 1, 1));
    let d = b.bn("d.bn", d, 10);
    let a = b.conv("a", x, init.conv(3, 4, 3, 1, 1));
    let c = b.conv("c", x, init.conv(3, 6, 1, 1, 1));
    let cat = b.op("cat", Op::Concat { axis: 1 }, &[a, c]);
    let y = b.op("add", Op::Add, &[cat, d]);
    let y = b.op("relu", Op::Relu, &[y]);
    let y = b.conv("e", y, init.conv(10, 8, 3, 1, 1));
    let y = b.op("e.relu", Op::Relu, &[y]);
    let graph = head(b, &mut init, y, 8);
    let deps = analyse(&graph);
    assert_eq!(prunable_names(&deps), ["d[0..4]", "d[4..10]", "e"]);
    assert_eq!(
        members(deps.group("d[0..4]").unwrap()),
        [
            (Filters, "d", 0),
            (Norm, "d.bn", 0),
            (Filters, "a", 0),
            (READS, "e", 0)
        ]
    );
    assert_eq!(
        members(deps.group("d[4..10]").unwrap()),
        [
            (Filters, "d", 4),
            (Norm, "d.bn", 4),
            (Filters, "c", 0),
            (READS, "e", 4)
        ]
    );
    check_prune_equals_mask(graph);
}

#[test]
fn a_value_concatenated_with_itself_is_read_at_both_offsets() {
    let mut init = Init::new(4);
    let (mut b, x) = GraphBuilder::new("twice", vec![3, 6, 6]);
    let a = b.conv("a", x, init.conv(3, 4, 3, 1, 1));
    let a = b.op("a.relu", Op::Relu, &[a]);
    let y = b.op("cat", Op::Concat { axis: 1 }, &[a, a]);
    let y = b.conv("e", y, init.conv(8, 5, 3, 1, 1));
    let graph = head(b, &mut init, y, 5);
    let deps = analyse(&graph);
    assert_eq!(
        members(deps.group("a").unwrap()),
        [(Filters, "a", 0), (READS, "e", 0), (READS, "e", 4)]
    );
    check_prune_equals_mask(graph);
}

/// conv-BN-ReLU, then a squeeze-and-excitation block gating it with `gate`.
fn se_net(gate: Op) -> Graph {
    let mut init = Init::new(5);
    let (mut b, x) = GraphBuilder::new("se", vec![3, 8, 8]);
    let y = b.conv("conv", x, init.conv(3, 8, 3, 1, 1));
    let y = b.bn("bn", y, 8);
    let y = b.op("relu", Op::Relu, &[y]);
    let s = b.op("se.pool", Op::GlobalAvgPool, &[y]);
    let s = b.conv("se.fc1", s, init.conv_with_bias(8, 3, 1, 0));
    let s = b.op("se.relu", Op::Relu, &[s]);
    let s = b.conv("se.fc2", s, init.conv_with_bias(3, 8, 1, 0));
    let s = b.op("se.gate", gate, &[s]);
    let y = b.op("se.mul", Op::Mul, &[y, s]);
    let y = b.conv("out", y, init.conv(8, 6, 3, 1, 1));
    let y = b.bn("out.bn", y, 6);
    let y = b.op("out.relu", Op::Relu, &[y]);
    head(b, &mut init, y, 6)
}

#[test]
fn an_se_gate_shares_the_channels_it_scales() {
    let deps = analyse(&se_net(Op::Sigmoid));
    assert_eq!(prunable_names(&deps), ["conv", "se.fc1", "out"]);
    assert_eq!(
        members(deps.group("conv").unwrap()),
        [
            (Filters, "conv", 0),
            (Norm, "bn", 0),
            (Filters, "se.fc2", 0),
            (READS, "se.fc1", 0),
            (READS, "out", 0)
        ]
    );
    assert_eq!(
        members(deps.group("se.fc1").unwrap()),
        [(Filters, "se.fc1", 0), (READS, "se.fc2", 0)]
    );
    // sigmoid(0) = 0.5 and hardsigmoid(0) = 0.5: masking must not rely on zeros staying zero.
    check_prune_equals_mask(se_net(Op::Sigmoid));
    check_prune_equals_mask(se_net(Op::HardSigmoid {
        alpha: 1.0 / 6.0,
        beta: 0.5,
    }));
}

#[test]
fn a_spatial_gate_ties_no_channels() {
    let mut init = Init::new(6);
    let (mut b, x) = GraphBuilder::new("spatial", vec![3, 8, 8]);
    let y = b.conv("x", x, init.conv(3, 8, 3, 1, 1));
    let y = b.op("x.relu", Op::Relu, &[y]);
    let s = b.conv("s", x, init.conv_with_bias(3, 1, 3, 1));
    let s = b.op("s.gate", Op::Sigmoid, &[s]);
    let y = b.op("mul", Op::Mul, &[y, s]);
    let y = b.conv("y", y, init.conv(8, 4, 3, 1, 1));
    let graph = head(b, &mut init, y, 4);
    let deps = analyse(&graph);
    assert_eq!(
        members(deps.group("x").unwrap()),
        [(Filters, "x", 0), (READS, "y", 0)]
    );
    assert_eq!(deps.group("s").unwrap().channels, 1);
    check_prune_equals_mask(graph);
}

#[test]
fn channels_broadcast_against_a_spatial_axis_are_blocked() {
    // A [8] vector times a [4, 8, 8] map scales columns, not channels.
    let mut init = Init::new(7);
    let (mut b, x) = GraphBuilder::new("columns", vec![3, 8, 8]);
    let y = b.conv("x", x, init.conv(3, 4, 3, 1, 1));
    let v = b.op("v.pool", Op::GlobalAvgPool, &[x]);
    let v = b.op("v.flatten", Op::Flatten { axis: 1 }, &[v]);
    let v = b.linear("v", v, init.linear(3, 8));
    let y = b.op("mul", Op::Mul, &[y, v]);
    let y = b.conv("y", y, init.conv(4, 4, 3, 1, 1));
    let graph = head(b, &mut init, y, 4);
    let deps = analyse(&graph);
    let v = deps.group("v").unwrap();
    assert!(v.blocked.as_ref().unwrap().contains("axis 2"), "{v}");
    assert_eq!(prunable_names(&deps), ["x", "y"]);
    check_prune_equals_mask(graph);
}

fn depthwise_net() -> Graph {
    let mut init = Init::new(8);
    let (mut b, x) = GraphBuilder::new("separable", vec![3, 8, 8]);
    let relu6 = || Op::Clip { min: 0.0, max: 6.0 };
    let y = b.conv("pw1", x, init.conv(3, 8, 1, 1, 1));
    let y = b.bn("pw1.bn", y, 8);
    let y = b.op("pw1.act", relu6(), &[y]);
    let y = b.conv("dw", y, init.conv(8, 8, 3, 1, 8));
    let y = b.bn("dw.bn", y, 8);
    let y = b.op("dw.act", relu6(), &[y]);
    let y = b.conv("pw2", y, init.conv(8, 6, 1, 1, 1));
    let y = b.bn("pw2.bn", y, 6);
    let y = b.op("pw2.act", Op::Silu, &[y]);
    head(b, &mut init, y, 6)
}

#[test]
fn a_depthwise_conv_carries_its_input_channels() {
    let graph = depthwise_net();
    let deps = analyse(&graph);
    assert_eq!(prunable_names(&deps), ["pw1", "pw2"]);
    let g = deps.group("pw1").unwrap();
    assert_eq!(
        members(g),
        [
            (Filters, "pw1", 0),
            (Norm, "pw1.bn", 0),
            (Depthwise, "dw", 0),
            (Norm, "dw.bn", 0),
            (READS, "pw2", 0)
        ]
    );
    let mut pruned = graph.clone();
    prune_group(&mut pruned, g, &[0, 3, 7]).unwrap();
    let Op::Conv2d(dw) = &pruned.nodes[pruned.node_by_name("dw").unwrap()].op else {
        panic!()
    };
    assert_eq!(
        (dw.weight.shape.as_slice(), dw.groups),
        ([5, 1, 3, 3].as_slice(), 5)
    );
    check_prune_equals_mask(graph);
}

/// `a` (8 channels) feeds `g`, a conv of 2 groups (8 -> 12), which feeds `c`.
fn grouped_net() -> Graph {
    let mut init = Init::new(9);
    let (mut b, x) = GraphBuilder::new("grouped", vec![3, 8, 8]);
    let y = b.conv("a", x, init.conv(3, 8, 3, 1, 1));
    let y = b.bn("a.bn", y, 8);
    let y = b.op("a.relu", Op::Relu, &[y]);
    // 2 groups: input channels 0..4 and 4..8, output channels 0..6 and 6..12.
    let y = b.conv("g", y, init.conv(8, 12, 3, 1, 2));
    let y = b.bn("g.bn", y, 12);
    let y = b.op("g.relu", Op::Relu, &[y]);
    let y = b.conv("c", y, init.conv(12, 4, 3, 1, 1));
    let y = b.op("c.relu", Op::Relu, &[y]);
    head(b, &mut init, y, 4)
}

#[test]
fn a_grouped_conv_loses_the_same_channels_in_every_group() {
    let graph = grouped_net();
    let deps = analyse(&graph);
    assert_eq!(
        prunable_names(&deps),
        [
            "a[0..4 in each of 2 blocks]",
            "g[0..6 in each of 2 blocks]",
            "c"
        ]
    );
    // Channel j of the group is channel j of both of g's input groups: a's filters j and 4 + j,
    // and g's weight column j.
    let a = deps.group("a[0..4 in each of 2 blocks]").unwrap();
    assert_eq!(
        members(a),
        [
            (Filters, "a", 0),
            (Filters, "a", 4),
            (Norm, "a.bn", 0),
            (Norm, "a.bn", 4),
            (READS, "g", 0)
        ]
    );
    let g = deps.group("g[0..6 in each of 2 blocks]").unwrap();
    assert_eq!(
        members(g),
        [
            (Filters, "g", 0),
            (Filters, "g", 6),
            (Norm, "g.bn", 0),
            (Norm, "g.bn", 6),
            (READS, "c", 0),
            (READS, "c", 6)
        ]
    );
    let mut pruned = graph.clone();
    prune_groups(&mut pruned, &[(a, &[1][..]), (g, &[0, 5][..])]).unwrap();
    let gw = conv_weight(&pruned, "g");
    assert_eq!(gw.shape, [8, 3, 3, 3]);
    let Op::Conv2d(gc) = &pruned.nodes[pruned.node_by_name("g").unwrap()].op else {
        panic!()
    };
    assert_eq!((gc.groups, gc.in_channels()), (2, 6));
    assert_eq!(conv_weight(&pruned, "a").shape, [6, 3, 3, 3]);
    assert_eq!(conv_weight(&pruned, "c").shape, [4, 8, 3, 3]);
    // Filter 1 of g's first group is what was filter 1, without weight column 1.
    let before = conv_weight(&graph, "g");
    assert_eq!(gw.row(0)[..9], before.row(1)[..9]);
    assert_eq!(gw.row(0)[9..18], before.row(1)[18..27]);
    check_prune_equals_mask(graph);
}

/// A global amount counts each group channel once, as Torch-Pruning does: one that ties
/// channel `j` of both blocks of a grouped conv is one channel of the budget.
#[test]
fn a_global_amount_counts_a_grouped_convs_tied_channel_once() {
    use shears_prune::schedule::{PlanConfig, Scope};
    let graph = grouped_net();
    let deps = analyse(&graph);
    let groups = deps.groups();
    assert_eq!(
        groups.iter().map(|g| g.blocks()).collect::<Vec<_>>(),
        [1, 2, 2, 1, 1]
    );
    // 4 + 6 + 4 = 14 group channels; a quarter is 3. Mean-normalised, g's two weak channels
    // rank lowest, then a's first channel (ties go to the earlier group).
    let g = deps.group("g[0..6 in each of 2 blocks]").unwrap();
    let a = deps.group("a[0..4 in each of 2 blocks]").unwrap();
    let scores: Vec<_> = groups
        .iter()
        .map(|group| {
            let weak = [0.1, 0.2, 1.0, 1.0, 1.0, 1.0];
            group.is_prunable().then(|| match group.id == g.id {
                true => weak.to_vec(),
                false => vec![1.0; group.channels],
            })
        })
        .collect();
    let plan = PlanConfig {
        scope: Scope::Global,
        ..PlanConfig::default()
    };
    let mut cuts = plan.plan(groups, &scores, &Default::default(), 0.25);
    cuts.sort_by_key(|c| c.group);
    let got: Vec<_> = cuts.iter().map(|c| (c.group, c.indices.clone())).collect();
    assert_eq!(got, [(a.id, vec![0]), (g.id, vec![0, 1])]);
}

/// A grouped conv whose input is a depthwise-multiplier conv's output: one input channel per
/// group ties all of them, so only the output side can be pruned.
#[test]
fn one_channel_per_group_ties_every_channel() {
    let mut init = Init::new(10);
    let (mut b, x) = GraphBuilder::new("multiplier", vec![3, 8, 8]);
    let y = b.conv("a", x, init.conv(3, 4, 3, 1, 1));
    let y = b.op("a.relu", Op::Relu, &[y]);
    let y = b.conv("m", y, init.conv(4, 8, 3, 1, 4));
    let y = b.op("m.relu", Op::Relu, &[y]);
    let graph = head(b, &mut init, y, 8);
    let deps = analyse(&graph);
    let a = deps.group("a[0..1 in each of 4 blocks]").unwrap();
    assert_eq!(a.channels, 1);
    assert_eq!(a.members_of(Filters).count(), 4);
    assert_eq!(
        deps.group("m[0..2 in each of 4 blocks]")
            .unwrap()
            .members_of(Filters)
            .count(),
        4
    );
    check_prune_equals_mask(graph);
}

#[test]
fn a_softmax_over_channels_blocks_them() {
    let mut init = Init::new(10);
    let (mut b, x) = GraphBuilder::new("softmax", vec![3, 8, 8]);
    let y = b.conv("a", x, init.conv(3, 4, 3, 1, 1));
    let y = b.op("attn", Op::Softmax { axis: 1 }, &[y]);
    let y = b.conv("c", y, init.conv(4, 4, 3, 1, 1));
    let y = b.op("spatial", Op::Softmax { axis: 3 }, &[y]);
    let graph = head(b, &mut init, y, 4);
    let deps = analyse(&graph);
    let reason = deps.group("a").unwrap().blocked.clone().unwrap();
    assert!(reason.contains("Softmax 'attn'"), "{reason}");
    assert_eq!(prunable_names(&deps), ["c"]);
    check_prune_equals_mask(graph);
}

fn resnet20() -> (Graph, DependencyGraph) {
    let graph = zoo::build("resnet20", &ArchSpec::default()).unwrap();
    let deps = analyse(&graph);
    (graph, deps)
}

#[test]
fn surgery_cuts_every_member_of_a_residual_group() {
    let (mut graph, deps) = resnet20();
    let params = graph.param_count();
    prune_group(&mut graph, deps.group("conv1").unwrap(), &[0, 15, 7]).unwrap();
    let shape = |name: &str| {
        graph.nodes[graph.node_by_name(name).unwrap()].op.arrays()[0]
            .shape
            .clone()
    };
    assert_eq!(shape("conv1"), [13, 3, 3, 3]);
    assert_eq!(shape("bn1"), [13]);
    assert_eq!(shape("layer1.2.conv2"), [13, 16, 3, 3]);
    assert_eq!(shape("layer1.2.bn2"), [13]);
    assert_eq!(shape("layer1.1.conv1"), [16, 13, 3, 3]);
    assert_eq!(shape("layer2.0.shortcut.0"), [32, 13, 1, 1]);
    // conv1, 3 x conv2 rows; 3 x conv1 + layer2.0.conv1 + shortcut columns; 4 BNs.
    let removed = 3 * (27 + 3 * 144 + 3 * 144 + 32 * 9 + 32 + 4 * 2);
    assert_eq!(graph.param_count(), params - removed);
}

#[test]
fn surgery_refuses_bad_requests_and_leaves_the_graph_alone() {
    let (mut graph, deps) = resnet20();
    let before = graph.clone();
    let g = deps.group("layer1.0.conv1").unwrap();
    let all: Vec<usize> = (0..16).collect();
    let check = |err: PruneError, text: &str| {
        let message = err.to_string();
        assert!(message.contains(text), "{message}");
    };
    check(
        prune_group(&mut graph, g, &all).unwrap_err(),
        "removing all 16 channels of group 'layer1.0.conv1'",
    );
    check(
        prune_group(&mut graph, g, &[3, 16]).unwrap_err(),
        "group 'layer1.0.conv1' has 16 channels; index 16 is out of range",
    );
    check(
        mask_group(&mut graph, g, &[2, 2]).unwrap_err(),
        "channel 2 of group 'layer1.0.conv1' is listed twice",
    );
    check(
        prune_group(&mut graph, deps.group("fc").unwrap(), &[0]).unwrap_err(),
        "reaches the graph output 'fc'",
    );
    check(
        prune_groups(&mut graph, &[(g, &[0][..]), (g, &[0, 1][..])]).unwrap_err(),
        "overlap at channel 0 of node 'layer1.0.conv1'",
    );
    assert_eq!(graph, before);
    prune_group(&mut graph, g, &[]).unwrap();
    assert_eq!(graph, before);

    // The group describes the graph before this cut: using it again is refused.
    prune_group(&mut graph, g, &[1]).unwrap();
    let after = graph.clone();
    check(
        prune_group(&mut graph, g, &[2]).unwrap_err(),
        "rebuild the DependencyGraph",
    );
    assert_eq!(graph, after);
}

#[test]
fn a_cut_that_breaks_the_graph_is_undone() {
    // A hand-made group whose values forget the BN after the conv: verify fails, nothing
    // changes.
    let (mut graph, _) = resnet20();
    let node = graph.node_by_name("layer1.0.conv1").unwrap();
    let bogus = ChannelGroup {
        id: 0,
        key: "bogus#0".into(),
        name: "bogus".into(),
        channels: 16,
        members: vec![Member {
            node,
            name: "layer1.0.conv1".into(),
            kind: Filters,
            offset: 0,
            extent: 16,
        }],
        values: vec![ValueSlice {
            node,
            offset: 0,
            per_channel: 1,
        }],
        blocked: None,
        approximate: None,
    };
    let before = graph.clone();
    let err = prune_group(&mut graph, &bogus, &[4]).unwrap_err();
    assert!(matches!(err, PruneError::Verify { .. }), "{err}");
    assert!(err.to_string().contains("'bogus'"));
    assert_eq!(graph, before);
}

#[test]
fn masking_zeroes_producers_and_readers() {
    let (mut graph, deps) = resnet20();
    mask_group(&mut graph, deps.group("layer1.0.conv1").unwrap(), &[5]).unwrap();
    let op = |name: &str| &graph.nodes[graph.node_by_name(name).unwrap()].op;
    let Op::Conv2d(conv1) = op("layer1.0.conv1") else {
        panic!()
    };
    assert!(conv1.weight.row(5).iter().all(|&w| w == 0.0));
    assert!(conv1.weight.row(4).iter().any(|&w| w != 0.0));
    let Op::BatchNorm2d(bn) = op("layer1.0.bn1") else {
        panic!()
    };
    assert_eq!(
        (bn.gamma.data[5], bn.beta.data[5], bn.var.data[5]),
        (0.0, 0.0, 1.0)
    );
    let Op::Conv2d(conv2) = op("layer1.0.conv2") else {
        panic!()
    };
    for o in 0..16 {
        assert!(conv2.weight.row(o)[5 * 9..6 * 9].iter().all(|&w| w == 0.0));
    }
}
