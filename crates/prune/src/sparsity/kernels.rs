//! Kernel rows and columns that no filter uses any more (every weight on them zero, as
//! stripe pruning leaves them) are cut from the kernel, with the padding on that side
//! reduced to match, so the conv computes exactly what it did on the same output grid.

use shears_ir::{Conv2d, Graph, Op};

/// `graph` with the unused edge rows and columns of every conv kernel cut, and how many rows
/// and columns went. An edge goes only while the padding on its side is at least the
/// dilation (otherwise the output grid would move) and the kernel keeps at least one.
pub fn trim_kernels(graph: &Graph) -> (Graph, usize) {
    let mut out = graph.clone();
    let mut trimmed = 0;
    for node in &mut out.nodes {
        if let Op::Conv2d(c) = &mut node.op {
            trimmed += trim(c);
        }
    }
    (out, trimmed)
}

/// Cuts `c`'s unused edges, one at a time, until none can go.
fn trim(c: &mut Conv2d) -> usize {
    let mut cut = 0;
    // (kernel axis, index of the padding on its leading side, on its trailing side).
    for (axis, lead, trail) in [(2, 0, 2), (3, 1, 3)] {
        let d = c.dilation[axis - 2];
        loop {
            let size = c.weight.shape[axis];
            if size <= 1 {
                break;
            }
            let edge = if c.padding[lead] >= d && unused(c, axis, 0) {
                c.padding[lead] -= d;
                0
            } else if c.padding[trail] >= d && unused(c, axis, size - 1) {
                c.padding[trail] -= d;
                size - 1
            } else {
                break;
            };
            c.weight = c.weight.without(axis, &[edge]);
            cut += 1;
        }
    }
    cut
}

/// Whether every weight at `index` of kernel axis `axis` is zero.
fn unused(c: &Conv2d, axis: usize, index: usize) -> bool {
    c.weight
        .slice_along(axis, index..index + 1)
        .is_some_and(|v| v.iter().all(|&w| w == 0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shears_ir::zoo::Init;
    use shears_ir::{GraphBuilder, Op};

    #[test]
    fn unused_edges_go_and_the_padding_follows() {
        let mut init = Init::new(1);
        let (mut b, x) = GraphBuilder::new("t", vec![2, 6, 6]);
        let mut conv = init.conv(2, 3, 3, 1, 1);
        // Kernel row 0 and column 2 unused by every filter.
        let keep: Vec<bool> = (0..conv.weight.len())
            .map(|i| i % 9 / 3 != 0 && i % 3 != 2)
            .collect();
        conv.weight.restrict(&keep);
        let y = b.conv("conv", x, conv);
        let graph = b.finish(y);
        let (trimmed, cut) = trim_kernels(&graph);
        assert_eq!(cut, 2);
        let Op::Conv2d(c) = &trimmed.nodes[1].op else {
            panic!("a conv")
        };
        assert_eq!(c.kernel(), [2, 2]);
        assert_eq!(c.padding, [0, 1, 1, 0]);
        assert_eq!(c.weight.masked_count(), 0);
        assert_eq!(
            trimmed.infer_shapes().unwrap(),
            graph.infer_shapes().unwrap()
        );
    }
}
