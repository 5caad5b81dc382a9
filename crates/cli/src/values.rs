//! Parsers for option values that check their range, so a bad value is refused by the parser,
//! before any work, with a message that says what the option takes.

/// Parses `s` as a number and checks it with `ok`, else says what the option takes.
fn number<T: std::str::FromStr + Copy>(
    s: &str,
    ok: impl Fn(T) -> bool,
    takes: &str,
) -> Result<T, String> {
    match s.trim().parse::<T>() {
        Ok(v) if ok(v) => Ok(v),
        _ => Err(format!("'{s}' is not {takes}")),
    }
}

/// A fraction strictly between 0 and 1 (an amount to remove).
pub fn fraction(s: &str) -> Result<f64, String> {
    number(
        s,
        |v: f64| v > 0.0 && v < 1.0,
        "a fraction strictly between 0 and 1 (e.g. 0.5)",
    )
}

/// A fraction in (0, 1] (a cap or a factor).
pub fn fraction_up_to_one(s: &str) -> Result<f64, String> {
    number(s, |v: f64| v > 0.0 && v <= 1.0, "a fraction in (0, 1]")
}

/// A weight in [0, 1].
pub fn unit_f32(s: &str) -> Result<f32, String> {
    number(
        s,
        |v: f32| (0.0..=1.0).contains(&v),
        "a number between 0 and 1",
    )
}

/// A momentum in [0, 1).
pub fn momentum(s: &str) -> Result<f32, String> {
    number(
        s,
        |v: f32| (0.0..1.0).contains(&v),
        "a momentum in [0, 1) (e.g. 0.9)",
    )
}

/// A finite number greater than 0.
pub fn positive_f64(s: &str) -> Result<f64, String> {
    number(s, |v: f64| v.is_finite() && v > 0.0, "a positive number")
}

/// A finite number greater than 0.
pub fn positive_f32(s: &str) -> Result<f32, String> {
    number(s, |v: f32| v.is_finite() && v > 0.0, "a positive number")
}

/// A finite number of 0 or more.
pub fn non_negative_f32(s: &str) -> Result<f32, String> {
    number(
        s,
        |v: f32| v.is_finite() && v >= 0.0,
        "a number of 0 or more",
    )
}

/// A finite number of 0 or more.
pub fn non_negative_f64(s: &str) -> Result<f64, String> {
    number(
        s,
        |v: f64| v.is_finite() && v >= 0.0,
        "a number of 0 or more",
    )
}

/// A finite number (a normalisation mean).
pub fn finite_f32(s: &str) -> Result<f32, String> {
    number(s, |v: f32| v.is_finite(), "a finite number")
}

/// A percentage in [0, 100].
pub fn percent(s: &str) -> Result<f64, String> {
    number(
        s,
        |v: f64| (0.0..=100.0).contains(&v),
        "a percentage between 0 and 100",
    )
}

/// A count of at least 1.
pub fn count(s: &str) -> Result<usize, String> {
    number(s, |v: usize| v >= 1, "a whole number of at least 1")
}

/// Most pruning steps a run may take: each step removes at least one channel, and a step
/// scores, cuts and fine-tunes, so more than this is a mistake rather than a schedule.
pub const MAX_STEPS: usize = 1000;

/// A step count in 1..=[`MAX_STEPS`].
pub fn steps(s: &str) -> Result<usize, String> {
    number(
        s,
        |v: usize| (1..=MAX_STEPS).contains(&v),
        &format!("a number of steps between 1 and {MAX_STEPS}"),
    )
}
