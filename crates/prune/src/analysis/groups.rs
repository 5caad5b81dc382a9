//! From tied channels to [`ChannelGroup`]s.
//!
//! After the rules have run, every set of tied channels (a union-find component) is one channel
//! of the network: pruning it removes one index from every value in the set. Its *signature* is
//! the sorted list of `(value, index)` pairs it touches. Walking the values in graph order, the
//! channels of a value not yet in a group start a new group, and the next channel joins that
//! group when its signature is the previous one shifted by one index in every value. So a group is
//! a run of channels laid out alike everywhere: channel `c` of the group sits at `offset + c` in
//! each value it touches, and a conv whose output is split by a concat downstream becomes two
//! groups. The members of a group are the layers that compute or read its values.

use super::axes::Axis;
use super::rules::Coupling;
use crate::{ChannelGroup, Member, MemberKind, ValueSlice};
use shears_ir::{Graph, Side};

/// Channels of each component, listed in channel-number order (graph order of their values).
struct Components {
    /// Component (root channel) of every channel.
    root: Vec<u32>,
    /// `start[r]..start[r + 1]` indexes `channels` for component root `r`.
    start: Vec<u32>,
    channels: Vec<u32>,
    /// The value (node) each channel number belongs to.
    value: Vec<u32>,
}

impl Components {
    fn new(coupling: &mut Coupling, axes: &[Axis], total: usize) -> Self {
        let root: Vec<u32> = (0..total).map(|e| coupling.uf.find(e) as u32).collect();
        let mut start = vec![0u32; total + 1];
        for &r in &root {
            start[r as usize + 1] += 1;
        }
        for i in 0..total {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut channels = vec![0u32; total];
        for (e, &r) in root.iter().enumerate() {
            channels[fill[r as usize] as usize] = e as u32;
            fill[r as usize] += 1;
        }
        let mut value = vec![0u32; total];
        for (v, axis) in axes.iter().enumerate() {
            value[axis.base..axis.base + axis.channels].fill(v as u32);
        }
        Self {
            root,
            start,
            channels,
            value,
        }
    }

    fn signature(&self, root: usize) -> &[u32] {
        &self.channels[self.start[root] as usize..self.start[root + 1] as usize]
    }

    /// Whether component `next` is component `prev` moved one channel on in every value.
    fn follows(&self, prev: usize, next: usize) -> bool {
        let (a, b) = (self.signature(prev), self.signature(next));
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(&p, &n)| n == p + 1 && self.value[n as usize] == self.value[p as usize])
    }
}

/// Groups every channel of the graph.
pub(crate) fn form(
    graph: &Graph,
    axes: &[Axis],
    total: usize,
    consumers: &[Vec<usize>],
    mut coupling: Coupling,
) -> Vec<ChannelGroup> {
    let comps = Components::new(&mut coupling, axes, total);
    const FREE: u32 = u32::MAX;
    let mut assigned = vec![FREE; total];
    // (first component root, channel count) per group.
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for axis in axes {
        let mut prev: Option<usize> = None;
        for e in axis.base..axis.base + axis.channels {
            let r = comps.root[e] as usize;
            if assigned[r] != FREE {
                prev = None;
                continue;
            }
            match prev {
                Some(p) if comps.follows(p, r) => runs.last_mut().unwrap().1 += 1,
                _ => runs.push((r, 1)),
            }
            assigned[r] = (runs.len() - 1) as u32;
            prev = Some(r);
        }
    }
    runs.into_iter()
        .enumerate()
        .map(|(id, (root, channels))| {
            describe(
                graph, axes, consumers, &coupling, &comps, id, root, channels,
            )
        })
        .collect()
}

/// The group whose channel 0 is component `root`: its values, members, name and blocking.
#[allow(clippy::too_many_arguments)]
fn describe(
    graph: &Graph,
    axes: &[Axis],
    consumers: &[Vec<usize>],
    coupling: &Coupling,
    comps: &Components,
    id: usize,
    root: usize,
    channels: usize,
) -> ChannelGroup {
    let mut values = Vec::new();
    let mut producers = Vec::new();
    let mut readers = Vec::new();
    let mut blocked = None;
    let mut approximate = None;
    for &e in comps.signature(root) {
        let v = comps.value[e as usize] as usize;
        let axis = axes[v];
        let offset = e as usize - axis.base;
        values.push(ValueSlice {
            node: v,
            offset,
            per_channel: axis.per_channel,
        });
        if blocked.is_none() {
            blocked.clone_from(&coupling.blocked[v]);
        }
        if approximate.is_none() {
            approximate.clone_from(&coupling.approximate[v]);
        }
        // A member per weighted op on the value, and per weighted reader of it, at every
        // offset its cut axis holds (a grouped conv's filters: once per group; the input
        // slices of a grouped conv, which index one group: once).
        let add = |list: &mut Vec<Member>, node: usize, side: Side, width: usize| {
            let op = &graph.nodes[node].op;
            if let Some((kind, w)) = MemberKind::of(op, side, width) {
                let extent = op.arrays()[w.array].shape[w.axis];
                if offset * width < extent {
                    list.push(Member {
                        node,
                        name: graph.nodes[node].name.clone(),
                        kind,
                        offset: offset * width,
                        extent,
                    });
                }
            }
        };
        add(&mut producers, v, Side::Out, 1);
        for &n in &consumers[v] {
            add(&mut readers, n, Side::In, axis.per_channel);
        }
    }
    if blocked.is_none() && producers.is_empty() {
        blocked = Some("no layer with weights computes these channels".into());
    }
    let first = values[0];
    let mut name = graph.nodes[first.node].name.clone();
    let places = values.iter().filter(|v| v.node == first.node).count();
    let range = first.offset..first.offset + channels;
    if places > 1 {
        // Tied across the groups of a grouped conv: the same range in every block.
        name = format!("{name}[{range:?} in each of {places} blocks]");
    } else if range != (0..axes[first.node].channels) {
        name = format!("{name}[{range:?}]");
    }
    producers.append(&mut readers);
    ChannelGroup {
        id,
        key: String::new(),
        name,
        channels,
        members: producers,
        values,
        blocked,
        approximate,
    }
}
