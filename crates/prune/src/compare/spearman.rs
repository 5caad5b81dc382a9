//! Spearman's rank correlation: Pearson's correlation of the ranks, ties sharing their mean
//! rank (as `scipy.stats.spearmanr` computes it).

/// 1-based ranks of `values`, tied values sharing the mean of their ranks.
pub fn ranks(values: &[f32]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = mean;
        }
        i = j + 1;
    }
    ranks
}

/// Spearman's rho of two equally long score vectors; `None` when either is constant or they
/// have fewer than two entries.
pub fn spearman(a: &[f32], b: &[f32]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let mean = (a.len() as f64 + 1.0) / 2.0;
    let (mut num, mut da, mut db) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        num += (x - mean) * (y - mean);
        da += (x - mean) * (x - mean);
        db += (y - mean) * (y - mean);
    }
    (da > 0.0 && db > 0.0).then(|| num / (da * db).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ties_share_their_mean_rank() {
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
    }

    #[test]
    fn matches_scipy() {
        // scipy.stats.spearmanr([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) = 0.8207826816681233
        let rho = spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5.0, 6.0, 7.0, 8.0, 7.0]).unwrap();
        assert!((rho - 0.820_782_681_668_123_3).abs() < 1e-12, "{rho}");
        assert_eq!(spearman(&[1.0, 1.0], &[1.0, 2.0]), None);
    }

    proptest! {
        #[test]
        fn monotone_maps_give_one_and_reversals_minus_one(
            v in proptest::collection::vec(-100.0f32..100.0, 2..40)
        ) {
            prop_assume!(v.iter().any(|&x| x != v[0]));
            let doubled: Vec<f32> = v.iter().map(|x| x * 2.0).collect();
            let negated: Vec<f32> = v.iter().map(|x| -x).collect();
            prop_assert!((spearman(&v, &doubled).unwrap() - 1.0).abs() < 1e-9);
            prop_assert!((spearman(&v, &negated).unwrap() + 1.0).abs() < 1e-9);
        }
    }
}
