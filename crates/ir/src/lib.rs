//! The shears graph IR.
//!
//! A [`Graph`] is a list of [`Node`]s in topological order. Each node holds one [`Op`] whose
//! weights are plain `f32` [`Array`]s, and reads its inputs through [`OutletId`]s. The IR knows
//! nothing of files or of burn: it owns each op's rules (`rules`: arity, channel rule, weight layout, MACs; `shape`: shape
//! inference; `cut`: removing and zeroing channels), parameter and MAC counting, a per-layer
//! summary and [`Graph::verify`], and the built-in architectures in [`zoo`].

mod array;
mod count;
mod cut;
mod error;
mod fold;
mod graph;
pub mod limits;
mod norms;
mod op;
mod resize;
mod rules;
mod shape;
mod verify;
pub mod zoo;

pub use array::Array;
pub use count::{LayerSummary, filter_weight, filter_weight_mut};
pub use error::IrError;
pub use graph::{Graph, GraphBuilder, Node, OutletId};
pub use norms::AddedNorms;
pub use op::{BatchNorm2d, Conv2d, ConvTranspose2d, LayerNorm, Linear, Op, PadMode, Pool2d};
pub use resize::{Coordinates, Interpolation, Resize, ResizeTarget, Rounding};
pub use rules::{Arity, ChannelRule, ChannelWeight, Side, WeightRole};
pub use shape::Shape;
