//! Folding at import: nodes that compute constants (weights made by `ConstantOfShape`, shapes
//! computed by `Shape`–`Gather`–`Unsqueeze`–`Concat` chains, transposed or cast weights) are
//! evaluated once, so the graph keeps only the ops that compute on data.
//!
//! A node folds when every input it has is a constant, or when it is a `Shape` of a value (the
//! shape is known: shears fixes every axis but the batch). The batch size is written as 0, which
//! `Reshape` reads as "keep this axis": that is what `x.view(x.size(0), -1)` means.

use crate::proto::{NodeProto, TensorProto};
use crate::tensor;

/// A constant's values: floats (weights) or integers (shapes, axes, indices).
#[derive(Clone, Debug, PartialEq)]
enum Values {
    Float(Vec<f32>),
    Int(Vec<i64>),
}

/// A constant tensor being folded.
#[derive(Clone, Debug, PartialEq)]
struct Lit {
    shape: Vec<usize>,
    values: Values,
}

impl Lit {
    fn read(t: &TensorProto) -> Result<Self, String> {
        let shape: Vec<usize> = t.dims.iter().map(|&d| d.max(0) as usize).collect();
        match tensor::to_ints(t) {
            Ok(v) => Ok(Self {
                shape,
                values: Values::Int(v),
            }),
            Err(_) => {
                let a = tensor::to_array(t)?;
                Ok(Self {
                    shape: a.shape,
                    values: Values::Float(a.data),
                })
            }
        }
    }

    fn write(&self, name: &str) -> TensorProto {
        match &self.values {
            Values::Float(v) => tensor::float_tensor(name, &self.shape, v),
            Values::Int(v) => tensor::int_tensor(name, &self.shape, v),
        }
    }

    fn len(&self) -> usize {
        match &self.values {
            Values::Float(v) => v.len(),
            Values::Int(v) => v.len(),
        }
    }

    fn ints(&self) -> Result<&[i64], String> {
        match &self.values {
            Values::Int(v) => Ok(v),
            Values::Float(_) => Err("expected an integer tensor".into()),
        }
    }

    /// Keeps the elements at flat positions `picks`, as a tensor of `shape`.
    fn pick(&self, picks: &[usize], shape: Vec<usize>) -> Self {
        let values = match &self.values {
            Values::Float(v) => Values::Float(picks.iter().map(|&i| v[i]).collect()),
            Values::Int(v) => Values::Int(picks.iter().map(|&i| v[i]).collect()),
        };
        Self { shape, values }
    }
}

/// An input of a node being folded.
pub(crate) enum FoldInput<'a> {
    Absent,
    Const(&'a TensorProto),
    /// A computed value of this per-sample shape (for `Shape`).
    Value(Vec<usize>),
}

/// Whether `op_type` is folded when its inputs are constant (so it needs no importer).
pub(crate) fn foldable(op_type: &str) -> bool {
    matches!(
        op_type,
        "ConstantOfShape"
            | "Shape"
            | "Gather"
            | "Unsqueeze"
            | "Squeeze"
            | "Concat"
            | "Cast"
            | "Reshape"
            | "Identity"
            | "Transpose"
            | "Add"
            | "Sub"
            | "Mul"
            | "Div"
            | "Slice"
    )
}

/// The node's outputs if it folds, `Ok(None)` if it computes on data.
pub(crate) fn fold(
    node: &NodeProto,
    opset: i64,
    inputs: &[FoldInput],
) -> Result<Option<Vec<TensorProto>>, String> {
    let shape_of_value = matches!(inputs.first(), Some(FoldInput::Value(_)));
    let all_const = inputs.iter().all(|i| !matches!(i, FoldInput::Value(_)));
    if !foldable(&node.op_type) || !(all_const || node.op_type == "Shape" && shape_of_value) {
        return Ok(None);
    }
    let lits: Vec<Option<Lit>> = inputs
        .iter()
        .map(|i| match i {
            FoldInput::Const(t) => Lit::read(t).map(Some),
            _ => Ok(None),
        })
        .collect::<Result<_, _>>()?;
    let arg = |k: usize| -> Result<&Lit, String> {
        lits.get(k)
            .and_then(Option::as_ref)
            .ok_or_else(|| format!("input {k} is missing"))
    };
    let attr_ints = |name: &str| {
        node.attribute
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.ints.clone())
    };
    let attr_int = |name: &str, default: i64| {
        node.attribute
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| a.i)
            .unwrap_or(default)
    };
    // Axes come from an attribute before opset 13 and from input 1 after.
    let axes_of = |k: usize| -> Result<Vec<i64>, String> {
        match attr_ints("axes") {
            Some(a) => Ok(a),
            None => match lits.get(k).and_then(Option::as_ref) {
                Some(l) => Ok(l.ints()?.to_vec()),
                None => Ok(Vec::new()),
            },
        }
    };
    let out = match node.op_type.as_str() {
        "Shape" => {
            let shape = match &inputs[0] {
                FoldInput::Value(s) => std::iter::once(0)
                    .chain(s.iter().map(|&d| d as i64))
                    .collect(),
                _ => arg(0)?.shape.iter().map(|&d| d as i64).collect::<Vec<_>>(),
            };
            let (start, end) = (attr_int("start", 0), attr_int("end", shape.len() as i64));
            let clamp = |i: i64| {
                (if i < 0 { i + shape.len() as i64 } else { i }).clamp(0, shape.len() as i64)
                    as usize
            };
            let dims = shape[clamp(start)..clamp(end).max(clamp(start))].to_vec();
            Lit {
                shape: vec![dims.len()],
                values: Values::Int(dims),
            }
        }
        "ConstantOfShape" => {
            let dims: Vec<usize> = arg(0)?.ints()?.iter().map(|&d| d.max(0) as usize).collect();
            let n = dims.iter().product();
            let value = node
                .attribute
                .iter()
                .find(|a| a.name == "value")
                .and_then(|a| a.t.as_ref())
                .map(Lit::read)
                .transpose()?;
            let values = match value.map(|v| v.values) {
                None => Values::Float(vec![0.0; n]),
                Some(Values::Float(v)) => Values::Float(vec![v.first().copied().unwrap_or(0.0); n]),
                Some(Values::Int(v)) => Values::Int(vec![v.first().copied().unwrap_or(0); n]),
            };
            Lit {
                shape: dims,
                values,
            }
        }
        "Identity" => arg(0)?.clone(),
        "Cast" => {
            let x = arg(0)?;
            let to = attr_int("to", 1);
            let float = matches!(to, 1 | 10 | 11 | 16);
            let values = match (&x.values, float) {
                (Values::Float(v), true) => Values::Float(v.clone()),
                (Values::Int(v), true) => Values::Float(v.iter().map(|&i| i as f32).collect()),
                (Values::Float(v), false) => Values::Int(v.iter().map(|&f| f as i64).collect()),
                (Values::Int(v), false) => Values::Int(v.clone()),
            };
            Lit {
                shape: x.shape.clone(),
                values,
            }
        }
        "Unsqueeze" => {
            let x = arg(0)?;
            let rank = x.shape.len() + axes_of(1)?.len();
            let mut axes: Vec<usize> = axes_of(1)?
                .iter()
                .map(|&a| norm(a, rank))
                .collect::<Result<_, _>>()?;
            axes.sort_unstable();
            let mut shape = x.shape.clone();
            for a in axes {
                if a > shape.len() {
                    return Err(format!("axis {a} is out of range"));
                }
                shape.insert(a, 1);
            }
            Lit { shape, ..x.clone() }
        }
        "Squeeze" => {
            let x = arg(0)?;
            let axes: Vec<usize> = axes_of(1)?
                .iter()
                .map(|&a| norm(a, x.shape.len()))
                .collect::<Result<_, _>>()?;
            let shape = x
                .shape
                .iter()
                .enumerate()
                .filter(|(i, d)| {
                    if axes.is_empty() {
                        **d != 1
                    } else {
                        !axes.contains(i)
                    }
                })
                .map(|(_, &d)| d)
                .collect();
            Lit { shape, ..x.clone() }
        }
        "Reshape" => {
            let x = arg(0)?;
            let target = arg(1)?.ints()?;
            let known: usize = target
                .iter()
                .enumerate()
                .map(|(i, &d)| match d {
                    0 => x.shape.get(i).copied().unwrap_or(1),
                    -1 => 1,
                    d => d.max(0) as usize,
                })
                .product();
            let shape = target
                .iter()
                .enumerate()
                .map(|(i, &d)| match d {
                    0 => x.shape.get(i).copied().unwrap_or(1),
                    -1 => x.len() / known.max(1),
                    d => d as usize,
                })
                .collect();
            Lit { shape, ..x.clone() }
        }
        "Concat" => {
            let parts: Vec<&Lit> = lits.iter().flatten().collect();
            let rank = parts.first().map_or(1, |p| p.shape.len());
            let axis = norm(attr_int("axis", 0), rank)?;
            if rank != 1 || axis != 0 {
                return Err("only 1-D constants are concatenated at import".into());
            }
            let values = if parts.iter().all(|p| matches!(p.values, Values::Int(_))) {
                Values::Int(
                    parts
                        .iter()
                        .flat_map(|p| p.ints().unwrap().to_vec())
                        .collect(),
                )
            } else {
                Values::Float(parts.iter().flat_map(|p| floats(p)).collect())
            };
            let n = parts.iter().map(|p| p.len()).sum();
            Lit {
                shape: vec![n],
                values,
            }
        }
        "Gather" => {
            let (x, idx) = (arg(0)?, arg(1)?);
            let axis = norm(attr_int("axis", 0), x.shape.len())?;
            let extent = *x.shape.get(axis).ok_or("axis out of range")?;
            let inner: usize = x.shape[axis + 1..].iter().product();
            let outer: usize = x.shape[..axis].iter().product();
            let indices: Vec<usize> = idx
                .ints()?
                .iter()
                .map(|&i| norm(i, extent))
                .collect::<Result<_, _>>()?;
            let picks: Vec<usize> = (0..outer)
                .flat_map(|o| {
                    indices
                        .iter()
                        .flat_map(move |&i| (0..inner).map(move |j| (o * extent + i) * inner + j))
                })
                .collect();
            let mut shape = x.shape[..axis].to_vec();
            shape.extend(&idx.shape);
            shape.extend(&x.shape[axis + 1..]);
            x.pick(&picks, shape)
        }
        "Slice" if opset >= 10 => {
            let x = arg(0)?;
            if x.shape.len() != 1 {
                return Err("only 1-D constants are sliced at import".into());
            }
            let n = x.len() as i64;
            let start = arg(1)?.ints()?[0];
            let end = arg(2)?.ints()?[0];
            let clamp = |i: i64| (if i < 0 { i + n } else { i }).clamp(0, n) as usize;
            let (s, e) = (clamp(start), clamp(end).max(clamp(start)));
            x.pick(&(s..e).collect::<Vec<_>>(), vec![e - s])
        }
        "Transpose" => {
            let x = arg(0)?;
            let [r, c] = x.shape[..] else {
                return Err("only 2-D constants are transposed at import".into());
            };
            let picks: Vec<usize> = (0..c)
                .flat_map(|j| (0..r).map(move |i| i * c + j))
                .collect();
            x.pick(&picks, vec![c, r])
        }
        "Add" | "Sub" | "Mul" | "Div" => {
            let (a, b) = (arg(0)?, arg(1)?);
            if a.len() != b.len() && a.len() != 1 && b.len() != 1 {
                return Err("constants of different sizes are combined only with a scalar".into());
            }
            let shape = if a.len() >= b.len() {
                a.shape.clone()
            } else {
                b.shape.clone()
            };
            let n = a.len().max(b.len());
            let at = |l: &Lit, i: usize| if l.len() == 1 { 0 } else { i };
            let values = match (&a.values, &b.values) {
                (Values::Int(x), Values::Int(y)) => Values::Int(
                    (0..n)
                        .map(|i| int_op(&node.op_type, x[at(a, i)], y[at(b, i)]))
                        .collect(),
                ),
                _ => {
                    let (x, y) = (floats(a), floats(b));
                    Values::Float(
                        (0..n)
                            .map(|i| float_op(&node.op_type, x[at(a, i)], y[at(b, i)]))
                            .collect(),
                    )
                }
            };
            Lit { shape, values }
        }
        _ => return Ok(None),
    };
    let name = node.output.first().cloned().unwrap_or_default();
    Ok(Some(vec![out.write(&name)]))
}

fn floats(l: &Lit) -> Vec<f32> {
    match &l.values {
        Values::Float(v) => v.clone(),
        Values::Int(v) => v.iter().map(|&i| i as f32).collect(),
    }
}

fn int_op(op: &str, a: i64, b: i64) -> i64 {
    match op {
        "Add" => a + b,
        "Sub" => a - b,
        "Mul" => a * b,
        _ => {
            if b == 0 {
                0
            } else {
                a / b
            }
        }
    }
}

fn float_op(op: &str, a: f32, b: f32) -> f32 {
    match op {
        "Add" => a + b,
        "Sub" => a - b,
        "Mul" => a * b,
        _ => a / b,
    }
}

/// A possibly negative axis or index of a `rank`/`extent`.
fn norm(a: i64, extent: usize) -> Result<usize, String> {
    let n = extent as i64;
    let i = if a < 0 { a + n } else { a };
    if (0..n).contains(&i) {
        Ok(i as usize)
    } else {
        Err(format!("axis or index {a} is out of range for {extent}"))
    }
}
