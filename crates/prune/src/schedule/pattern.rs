//! Layer-name patterns for `--ignore` and per-layer ratios: an exact name, or a glob where `*`
//! matches any run of characters and `?` any one (`layer3.*`, `*.conv1`, `fc`).

/// Whether `name` matches `pattern`.
pub fn matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Classic wildcard matching with backtracking to the last `*`.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs_match_layer_names() {
        assert!(matches("fc", "fc"));
        assert!(!matches("fc", "fc1"));
        assert!(matches("layer3.*", "layer3.0.conv1"));
        assert!(!matches("layer3.*", "layer2.0.conv1"));
        assert!(matches("*.conv1", "layer1.2.conv1"));
        assert!(matches("layer?.0.*", "layer2.0.bn1"));
        assert!(matches("*", "anything"));
        assert!(!matches("*.conv2", "layer1.0.conv1"));
    }
}
