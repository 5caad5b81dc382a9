//! Folding at import: nodes that compute constants (weights made by `ConstantOfShape`, shapes
//! computed by `Shape`–`Gather`–`Unsqueeze`–`Concat` chains, transposed or cast weights) are
//! evaluated once, so the graph keeps only the ops that compute on data.
//!
//! A node folds when every input it has is a constant, or when it is a `Shape` of a value (the
//! shape is known: shears fixes every axis but the batch). The batch size is written as 0, which
//! `Reshape` reads as "keep this axis": that is what `x.view(x.size(0), -1)` means.
//!
//! Every size a fold makes a tensor of (a `ConstantOfShape`'s shape, a `Gather`'s or `Concat`'s
//! result) is checked against the limits before the tensor is allocated, and a fold that would
//! read or make inconsistent values (a reshape to another element count, an integer overflow)
//! is an error.

use crate::proto::{NodeProto, TensorProto};
use crate::tensor::{self, Fault};

/// A constant's values: floats (weights) or integers (shapes, axes, indices).
#[derive(Clone, Debug, PartialEq)]
enum Values {
    Float(Vec<f32>),
    Int(Vec<i64>),
}

/// A constant tensor being folded; `shape`'s product is the number of values.
#[derive(Clone, Debug, PartialEq)]
struct Lit {
    shape: Vec<usize>,
    values: Values,
}

impl Lit {
    fn read(t: &TensorProto) -> Result<Self, Fault> {
        match tensor::to_ints(t) {
            Ok(v) => {
                let shape = t
                    .dims
                    .iter()
                    .map(|&d| usize::try_from(d).map_err(|_| "negative dimension"))
                    .collect::<Result<_, _>>()?;
                Ok(Self {
                    shape,
                    values: Values::Int(v),
                })
            }
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

    fn ints(&self) -> Result<&[i64], Fault> {
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

    /// The same values as a tensor of `shape`.
    fn reshaped(&self, shape: Vec<usize>) -> Self {
        Self {
            shape,
            values: self.values.clone(),
        }
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

/// The node being folded, with its constant inputs read.
struct Folding<'a> {
    node: &'a NodeProto,
    inputs: &'a [FoldInput<'a>],
    lits: Vec<Option<Lit>>,
}

impl Folding<'_> {
    fn arg(&self, k: usize) -> Result<&Lit, Fault> {
        self.lits
            .get(k)
            .and_then(Option::as_ref)
            .ok_or_else(|| format!("input {k} is missing").into())
    }

    fn attr_ints(&self, name: &str) -> Option<&[i64]> {
        let a = self.node.attribute.iter().find(|a| a.name == name)?;
        Some(&a.ints)
    }

    fn attr_int(&self, name: &str, default: i64) -> i64 {
        self.node
            .attribute
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| a.i)
            .unwrap_or(default)
    }

    /// Axes come from an attribute before opset 13 and from input `k` after.
    fn axes(&self, k: usize) -> Result<Vec<i64>, Fault> {
        match self.attr_ints("axes") {
            Some(a) => Ok(a.to_vec()),
            None => match self.lits.get(k).and_then(Option::as_ref) {
                Some(l) => Ok(l.ints()?.to_vec()),
                None => Ok(Vec::new()),
            },
        }
    }
}

/// The node's outputs if it folds, `Ok(None)` if it computes on data.
pub(crate) fn fold(
    node: &NodeProto,
    opset: i64,
    inputs: &[FoldInput],
) -> Result<Option<Vec<TensorProto>>, Fault> {
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
    let f = Folding { node, inputs, lits };
    let out = match node.op_type.as_str() {
        "Shape" => shape(&f)?,
        "ConstantOfShape" => constant_of_shape(&f)?,
        "Identity" => f.arg(0)?.clone(),
        "Cast" => cast(&f)?,
        "Unsqueeze" => unsqueeze(&f)?,
        "Squeeze" => squeeze(&f)?,
        "Reshape" => reshape(&f)?,
        "Concat" => concat(&f)?,
        "Gather" => gather(&f)?,
        "Slice" if opset >= 10 => slice(&f)?,
        "Transpose" => transpose(&f)?,
        "Add" | "Sub" | "Mul" | "Div" => arithmetic(&f)?,
        _ => return Ok(None),
    };
    let name = node.output.first().cloned().unwrap_or_default();
    Ok(Some(vec![out.write(&name)]))
}

/// `Shape` of a constant or of a computed value (batch axis written as 0), `start..end`.
fn shape(f: &Folding) -> Result<Lit, Fault> {
    let shape: Vec<i64> = match f.inputs.first() {
        Some(FoldInput::Value(s)) => std::iter::once(0)
            .chain(s.iter().map(|&d| d as i64))
            .collect(),
        _ => f.arg(0)?.shape.iter().map(|&d| d as i64).collect(),
    };
    let n = shape.len() as i64;
    let clamp = |i: i64| (if i < 0 { i + n } else { i }).clamp(0, n) as usize;
    let (start, end) = (clamp(f.attr_int("start", 0)), clamp(f.attr_int("end", n)));
    let dims = shape[start..end.max(start)].to_vec();
    Ok(Lit {
        shape: vec![dims.len()],
        values: Values::Int(dims),
    })
}

/// A tensor of the shape input 0 holds, filled with the one value of attribute `value` (a
/// float 0 without it).
fn constant_of_shape(f: &Folding) -> Result<Lit, Fault> {
    let target = f.arg(0)?.ints()?;
    let dims: Vec<usize> = target
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<_, _>>()
        .map_err(|_| format!("the shape {target:?} has a negative dimension"))?;
    let n = tensor::elements("its output", &dims)?;
    let value = f
        .node
        .attribute
        .iter()
        .find(|a| a.name == "value")
        .and_then(|a| a.t.as_ref())
        .map(Lit::read)
        .transpose()?;
    if let Some(v) = value.as_ref().filter(|v| v.len() != 1) {
        return Err(format!(
            "attribute 'value' must hold one value, it has shape {:?}",
            v.shape
        )
        .into());
    }
    let values = match value.map(|v| v.values) {
        None => Values::Float(vec![0.0; n]),
        Some(Values::Float(v)) => Values::Float(vec![v[0]; n]),
        Some(Values::Int(v)) => Values::Int(vec![v[0]; n]),
    };
    Ok(Lit {
        shape: dims,
        values,
    })
}

fn cast(f: &Folding) -> Result<Lit, Fault> {
    let x = f.arg(0)?;
    let float = matches!(f.attr_int("to", 1), 1 | 10 | 11 | 16);
    let values = match (&x.values, float) {
        (Values::Float(v), true) => Values::Float(v.clone()),
        (Values::Int(v), true) => Values::Float(v.iter().map(|&i| i as f32).collect()),
        (Values::Float(v), false) => Values::Int(v.iter().map(|&f| f as i64).collect()),
        (Values::Int(v), false) => Values::Int(v.clone()),
    };
    Ok(Lit {
        shape: x.shape.clone(),
        values,
    })
}

fn unsqueeze(f: &Folding) -> Result<Lit, Fault> {
    let x = f.arg(0)?;
    let axes = f.axes(1)?;
    let rank = x.shape.len() + axes.len();
    let mut axes: Vec<usize> = axes
        .iter()
        .map(|&a| norm(a, rank))
        .collect::<Result<_, _>>()?;
    axes.sort_unstable();
    let mut shape = x.shape.clone();
    for a in axes {
        if a > shape.len() {
            return Err(format!("axis {a} is out of range").into());
        }
        shape.insert(a, 1);
    }
    Ok(x.reshaped(shape))
}

/// Drops the listed axes (each of size 1), or every axis of size 1.
fn squeeze(f: &Folding) -> Result<Lit, Fault> {
    let x = f.arg(0)?;
    let axes: Vec<usize> = f
        .axes(1)?
        .iter()
        .map(|&a| norm(a, x.shape.len()))
        .collect::<Result<_, _>>()?;
    if let Some(&a) = axes.iter().find(|&&a| x.shape[a] != 1) {
        return Err(format!("axis {a} of {:?} is not of size 1", x.shape).into());
    }
    let shape = x
        .shape
        .iter()
        .enumerate()
        .filter(|&(i, &d)| {
            if axes.is_empty() {
                d != 1
            } else {
                !axes.contains(&i)
            }
        })
        .map(|(_, &d)| d)
        .collect();
    Ok(x.reshaped(shape))
}

/// `Reshape` of a constant: 0 keeps the input's axis (unless `allowzero`), one -1 is inferred,
/// and the element count must not change.
fn reshape(f: &Folding) -> Result<Lit, Fault> {
    let x = f.arg(0)?;
    let target = f.arg(1)?.ints()?;
    let keep_zero = f.attr_int("allowzero", 0) != 0;
    let bad = || -> Fault { format!("cannot reshape {:?} to {target:?}", x.shape).into() };
    let mut shape = Vec::with_capacity(target.len());
    let mut inferred = None;
    for (i, &d) in target.iter().enumerate() {
        shape.push(match d {
            0 if !keep_zero => *x.shape.get(i).ok_or_else(bad)?,
            -1 if inferred.is_none() => {
                inferred = Some(i);
                1
            }
            d => usize::try_from(d).map_err(|_| bad())?,
        });
    }
    let known = tensor::elements("the reshaped constant", &shape)?;
    if let Some(i) = inferred {
        if known == 0 || x.len() % known != 0 {
            return Err(bad());
        }
        shape[i] = x.len() / known;
    }
    if shape.iter().product::<usize>() != x.len() {
        return Err(bad());
    }
    Ok(x.reshaped(shape))
}

/// `Concat` of 1-D constants.
fn concat(f: &Folding) -> Result<Lit, Fault> {
    let parts: Vec<&Lit> = f.lits.iter().flatten().collect();
    let axis = norm(f.attr_int("axis", 0), 1)?;
    if axis != 0 || parts.iter().any(|p| p.shape.len() != 1) {
        return Err("only 1-D constants are concatenated at import".into());
    }
    let n = parts.iter().map(|p| p.len()).fold(0, usize::saturating_add);
    tensor::elements("the concatenation", &[n])?;
    let values = if parts.iter().all(|p| matches!(p.values, Values::Int(_))) {
        let mut all = Vec::with_capacity(n);
        for p in &parts {
            all.extend_from_slice(p.ints()?);
        }
        Values::Int(all)
    } else {
        Values::Float(parts.iter().flat_map(|p| floats(p)).collect())
    };
    Ok(Lit {
        shape: vec![n],
        values,
    })
}

fn gather(f: &Folding) -> Result<Lit, Fault> {
    let (x, idx) = (f.arg(0)?, f.arg(1)?);
    let axis = norm(f.attr_int("axis", 0), x.shape.len())?;
    let extent = x.shape[axis];
    let inner: usize = x.shape[axis + 1..].iter().product();
    let outer: usize = x.shape[..axis].iter().product();
    let indices: Vec<usize> = idx
        .ints()?
        .iter()
        .map(|&i| norm(i, extent))
        .collect::<Result<_, _>>()?;
    let mut shape = x.shape[..axis].to_vec();
    shape.extend(&idx.shape);
    shape.extend(&x.shape[axis + 1..]);
    tensor::elements("its output", &shape)?;
    let picks: Vec<usize> = (0..outer)
        .flat_map(|o| {
            indices
                .iter()
                .flat_map(move |&i| (0..inner).map(move |j| (o * extent + i) * inner + j))
        })
        .collect();
    Ok(x.pick(&picks, shape))
}

/// `Slice` of a 1-D constant along its axis, with unit steps.
fn slice(f: &Folding) -> Result<Lit, Fault> {
    let x = f.arg(0)?;
    if x.shape.len() != 1 {
        return Err("only 1-D constants are sliced at import".into());
    }
    let one = |k: usize, what: &str| -> Result<Option<i64>, Fault> {
        match f.lits.get(k).and_then(Option::as_ref) {
            None => Ok(None),
            Some(l) => match *l.ints()? {
                [v] => Ok(Some(v)),
                ref v => Err(format!("{what} {v:?} must hold one value for a 1-D constant").into()),
            },
        }
    };
    let (start, end) = (one(1, "starts")?, one(2, "ends")?);
    let (Some(start), Some(end)) = (start, end) else {
        return Err("starts and ends are required".into());
    };
    if one(3, "axes")?.is_some_and(|a| a != 0 && a != -1)
        || one(4, "steps")?.is_some_and(|s| s != 1)
    {
        return Err("only unit-step slices of axis 0 are folded at import".into());
    }
    let n = x.len() as i64;
    let clamp = |i: i64| (if i < 0 { i.saturating_add(n) } else { i }).clamp(0, n) as usize;
    let (s, e) = (clamp(start), clamp(end).max(clamp(start)));
    Ok(x.pick(&(s..e).collect::<Vec<_>>(), vec![e - s]))
}

/// `Transpose` of a 2-D constant (the only permutation that changes one).
fn transpose(f: &Folding) -> Result<Lit, Fault> {
    let x = f.arg(0)?;
    let [r, c] = x.shape[..] else {
        return Err("only 2-D constants are transposed at import".into());
    };
    match f.attr_ints("perm") {
        None | Some([1, 0]) => {}
        Some([0, 1]) => return Ok(x.clone()),
        Some(p) => return Err(format!("perm {p:?} does not permute a 2-D constant").into()),
    }
    let picks: Vec<usize> = (0..c)
        .flat_map(|j| (0..r).map(move |i| i * c + j))
        .collect();
    Ok(x.pick(&picks, vec![c, r]))
}

/// `Add`, `Sub`, `Mul` or `Div` of constants of one size, or of a constant and a scalar.
fn arithmetic(f: &Folding) -> Result<Lit, Fault> {
    let (a, b) = (f.arg(0)?, f.arg(1)?);
    let op = f.node.op_type.as_str();
    if a.len() != b.len() && a.len() != 1 && b.len() != 1 {
        return Err("constants of different sizes are combined only with a scalar".into());
    }
    // The larger operand gives the shape; a one-element one is broadcast.
    let (shape, n) = if a.len() == 1 && b.len() != 1 {
        (b.shape.clone(), b.len())
    } else {
        (a.shape.clone(), a.len())
    };
    let at = |l: &Lit, i: usize| if l.len() == 1 { 0 } else { i };
    let values = match (&a.values, &b.values) {
        (Values::Int(x), Values::Int(y)) => Values::Int(
            (0..n)
                .map(|i| int_op(op, x[at(a, i)], y[at(b, i)]))
                .collect::<Result<_, _>>()?,
        ),
        _ => {
            let (x, y) = (floats(a), floats(b));
            Values::Float(
                (0..n)
                    .map(|i| float_op(op, x[at(a, i)], y[at(b, i)]))
                    .collect(),
            )
        }
    };
    Ok(Lit { shape, values })
}

fn floats(l: &Lit) -> Vec<f32> {
    match &l.values {
        Values::Float(v) => v.clone(),
        Values::Int(v) => v.iter().map(|&i| i as f32).collect(),
    }
}

/// Integer arithmetic; an overflow or a division by zero is an error.
fn int_op(op: &str, a: i64, b: i64) -> Result<i64, Fault> {
    let r = match op {
        "Add" => a.checked_add(b),
        "Sub" => a.checked_sub(b),
        "Mul" => a.checked_mul(b),
        _ => a.checked_div(b),
    };
    r.ok_or_else(|| format!("{op} of the integers {a} and {b} is undefined or overflows").into())
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
fn norm(a: i64, extent: usize) -> Result<usize, Fault> {
    let n = extent as i64;
    let i = if a < 0 { a + n } else { a };
    if (0..n).contains(&i) {
        Ok(i as usize)
    } else {
        Err(format!("axis or index {a} is out of range for {extent}").into())
    }
}
