//! Model-name patterns, shared by routing (`models = ["gpt-*"]`) and gateway keys
//! (allowed models), so both read a pattern the same way.

/// Whether `pattern` matches all of `text`: `*` matches any run of characters
/// (including none and including `/`), `?` exactly one; letters compare ASCII
/// case-insensitively (`GPT-*` matches `gpt-4o`).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matcher with one backtrack point: linear in practice, no recursion.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi].eq_ignore_ascii_case(&t[ti])) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn stars_questions_and_case() {
        assert!(glob_match("gpt-*", "gpt-4o-mini"));
        assert!(glob_match("o*", "o3-mini"));
        assert!(!glob_match("o*", "gpt-4o"));
        assert!(!glob_match("claude-*", "claude"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(glob_match("GPT-*", "gpt-4o"));
        assert!(glob_match("*/gpt-*", "openai/gpt-4o"));
        assert!(glob_match("modèle-*", "modèle-1"));
    }
}
