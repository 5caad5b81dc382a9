//! The vocabulary of coupled channels: a [`ChannelGroup`] and its [`Member`]s.
//!
//! A group is a set of channel indices `0..channels` shared by several layers. Channel `c` of the
//! group is channel `offset + c` of every member (for a linear layer reading a flattened feature
//! map: the `features_per_channel` columns starting at `offset + c * features_per_channel`).
//! Removing channel `c` of a group removes it from every member at once, which keeps the network
//! consistent.

use serde::{Deserialize, Serialize};
use shears_ir::{ChannelRule, ChannelWeight, Op, Side, WeightRole};
use std::fmt;
use std::ops::Range;

/// Which slice of a layer's weights belongs to a group's channel. The kind follows from the
/// op's channel rule and weight layout (`shears_ir::rules`), not from the op itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MemberKind {
    /// Filters that compute the channels from other channels: conv filters, linear rows,
    /// transposed-conv filter columns, with their bias entries. A grouped conv is a member once
    /// per group, at each group's offset.
    Filters,
    /// A filter that computes channel `c` from channel `c` alone (a depthwise conv): its
    /// weights, bias entry and group.
    Depthwise,
    /// Per-channel scale, shift and statistics of a normalisation (BN's gamma, beta, running
    /// mean and variance).
    Norm,
    /// The weights that read the channels: a conv's input-channel slices (for a grouped conv,
    /// index `j` of one group stands for channel `j` of every group), a linear layer's columns.
    /// A flattened `[C, H, W]` map gives each channel `H * W` consecutive features; after a
    /// global average pool it is 1.
    Reads { features_per_channel: usize },
}

impl MemberKind {
    /// Whether the member computes the group's channels (rather than reading them).
    pub fn is_producer(self) -> bool {
        !matches!(self, MemberKind::Reads { .. })
    }

    /// The side of the layer's weights the member cuts.
    pub fn side(self) -> Side {
        if self.is_producer() {
            Side::Out
        } else {
            Side::In
        }
    }

    /// Layer indices along the cut axis per group channel.
    pub fn width(self) -> usize {
        match self {
            MemberKind::Reads {
                features_per_channel,
            } => features_per_channel,
            MemberKind::Filters | MemberKind::Depthwise | MemberKind::Norm => 1,
        }
    }

    /// The kind of member `op` is on `side`, with the weight axis it cuts, or `None` if the op
    /// has no weights there.
    pub fn of(op: &Op, side: Side, features_per_channel: usize) -> Option<(Self, ChannelWeight)> {
        let w = op
            .channel_weights()
            .into_iter()
            .find(|w| w.side == side && matches!(w.role, WeightRole::Filter | WeightRole::Scale))?;
        let kind = match (side, w.role, op.channel_rule()) {
            (Side::In, ..) => MemberKind::Reads {
                features_per_channel,
            },
            (Side::Out, WeightRole::Filter, ChannelRule::PassThrough) => MemberKind::Depthwise,
            (Side::Out, WeightRole::Filter, _) => MemberKind::Filters,
            (Side::Out, ..) => MemberKind::Norm,
        };
        Some((kind, w))
    }
}

/// Whether `op` computes its channels with filters (a conv, transposed conv, depthwise conv or
/// linear layer): the layers a user names and reports list.
pub fn has_filters(op: &Op) -> bool {
    matches!(
        MemberKind::of(op, Side::Out, 1),
        Some((MemberKind::Filters | MemberKind::Depthwise, _))
    )
}

/// One layer slice of a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Index of the layer's node in `graph.nodes`.
    pub node: usize,
    /// The node's name, for messages and reports.
    pub name: String,
    pub kind: MemberKind,
    /// Where the group's channel 0 sits along the cut axis (non-zero behind a `Concat`).
    pub offset: usize,
    /// Length of the cut axis in the layer when the group was analysed; surgery refuses a
    /// group whose layers have changed since.
    pub extent: usize,
}

impl Member {
    /// The layer indices along the cut axis that hold group channel `c`.
    pub fn indices(&self, c: usize) -> Range<usize> {
        let w = self.kind.width();
        self.offset + c * w..self.offset + (c + 1) * w
    }
}

/// A value (node output) that carries a group's channels, e.g. a conv output, the BN after it,
/// the ReLU after that, a residual sum. Torch-Pruning's "channel space" of the group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueSlice {
    /// The node whose output this is.
    pub node: usize,
    /// Where the group's channel 0 sits along the value's channel axis.
    pub offset: usize,
    /// Elements of the value's axis 0 per channel: 1 for feature maps, `H * W` for a flattened
    /// map (channel `c` is then elements `(offset + c) * per_channel ..`).
    pub per_channel: usize,
}

/// Channels that must be pruned together, and every layer they live in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelGroup {
    /// Position in [`DependencyGraph::groups`](crate::DependencyGraph::groups).
    pub id: usize,
    /// The name of the node that first produces the channels (e.g. the conv), with
    /// `[start..end]` appended when that node's channels are split over several groups, or
    /// `[start..end in each of k blocks]` when a grouped conv ties the same range of each of
    /// its `k` groups (channel `c` of the group is then `k` channels of the node).
    pub name: String,
    /// A name that survives surgery, for matching the group across pruning steps: the first
    /// node carrying the channels and the group's rank among that node's groups (`conv1#0`).
    pub key: String,
    /// Number of channels; indices given to surgery are `0..channels`.
    pub channels: usize,
    /// Layer slices, producers first in graph order, then the layers that read the channels.
    pub members: Vec<Member>,
    /// The values carrying the channels, in graph order.
    pub values: Vec<ValueSlice>,
    /// Why the group must not be pruned, or `None` if it may be.
    pub blocked: Option<String>,
    /// Why pruning the group changes the channels that stay (a layer norm over its channels
    /// renormalises them over fewer), so that the pruned network only approximates the masked
    /// one; `None` when pruning is exact.
    #[serde(default)]
    pub approximate: Option<String>,
}

impl ChannelGroup {
    /// Whether surgery may remove channels of this group.
    pub fn is_prunable(&self) -> bool {
        self.blocked.is_none()
    }

    /// The first member that computes the channels (a conv's filters, usually): the layer whose
    /// weights a criterion such as the L1 filter norm looks at first.
    pub fn root(&self) -> Option<&Member> {
        self.members.iter().find(|m| m.kind.is_producer())
    }

    /// How many channels of the value that first carries the group one group channel is: 1,
    /// or the number of blocks a grouped conv ties together (see [`ChannelGroup::name`]).
    pub fn blocks(&self) -> usize {
        let first = self.values.first().map(|v| v.node);
        self.values
            .iter()
            .filter(|v| Some(v.node) == first)
            .count()
            .max(1)
    }

    /// Members of one kind.
    pub fn members_of(&self, kind: MemberKind) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(move |m| m.kind == kind)
    }
}

impl fmt::Display for MemberKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemberKind::Filters => write!(f, "filters"),
            MemberKind::Depthwise => write!(f, "depthwise"),
            MemberKind::Norm => write!(f, "norm"),
            MemberKind::Reads {
                features_per_channel: 1,
            } => write!(f, "reads"),
            MemberKind::Reads {
                features_per_channel,
            } => write!(f, "reads ({features_per_channel} per channel)"),
        }
    }
}

impl fmt::Display for ChannelGroup {
    /// `#3 layer1.0.conv1 (16 channels): filters layer1.0.conv1, norm layer1.0.bn1, ...`;
    /// a layer that holds the channels at several offsets (once per group of a grouped conv)
    /// is listed once with its offsets: `filters g @0,6`, or `@0,7,...,105 (16 places)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {} ({} channels)", self.id, self.name, self.channels)?;
        if let Some(reason) = &self.blocked {
            write!(f, " [blocked: {reason}]")?;
        }
        if let Some(reason) = &self.approximate {
            write!(f, " [approximate: {reason}]")?;
        }
        let runs = self
            .members
            .chunk_by(|a, b| a.node == b.node && a.kind == b.kind);
        for (i, run) in runs.enumerate() {
            let sep = if i == 0 { ": " } else { ", " };
            write!(f, "{sep}{} {}", run[0].kind, run[0].name)?;
            let offsets: Vec<String> = run.iter().map(|m| m.offset.to_string()).collect();
            match offsets.as_slice() {
                [only] if only == "0" => {}
                [a, b, .., last] if offsets.len() > 4 => {
                    write!(f, " @{a},{b},...,{last} ({} places)", offsets.len())?
                }
                _ => write!(f, " @{}", offsets.join(","))?,
            }
        }
        Ok(())
    }
}
