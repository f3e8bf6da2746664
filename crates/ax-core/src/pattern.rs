//! Model-name patterns, shared by routing (`models = ["gpt-*"]`) and gateway keys
//! (allowed models), so both read a pattern the same way.

/// Whether `pattern` matches all of `text`: `*` matches any run of characters
/// (including none and including `/`), `?` exactly one; letters compare ASCII
/// case-insensitively (`GPT-*` matches `gpt-4o`).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    // Iterative matcher with one backtrack point: linear in practice, no recursion.
    // Positions are byte offsets on character boundaries, so nothing is allocated: it
    // runs for every pattern of every provider on each routed request.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while let Some(tc) = text[ti..].chars().next() {
        let pc = pattern[pi..].chars().next();
        if pc == Some('*') {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some(pc) = pc.filter(|&pc| pc == '?' || pc.eq_ignore_ascii_case(&tc)) {
            pi += pc.len_utf8();
            ti += tc.len_utf8();
        } else if let Some((sp, st)) = star {
            // Let the last `*` swallow one more character of the text and retry.
            let skipped = text[st..].chars().next().map_or(1, char::len_utf8);
            pi = sp + 1;
            ti = st + skipped;
            star = Some((sp, ti));
        } else {
            return false;
        }
    }
    pattern[pi..].bytes().all(|c| c == b'*')
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
        assert!(glob_match("mod?le-?", "modèle-é"));
        assert!(!glob_match("mod?le", "modèèle"));
        assert!(glob_match("*é", "caféé"));
    }

    /// The textbook recursive matcher over characters, as the reference.
    fn reference(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, _) => t.is_empty(),
            (Some('*'), _) => reference(&p[1..], t) || (!t.is_empty() && reference(p, &t[1..])),
            (Some(_), None) => false,
            (Some(&pc), Some(&tc)) => {
                (pc == '?' || pc.eq_ignore_ascii_case(&tc)) && reference(&p[1..], &t[1..])
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_the_reference(p in "[ab*?é]{0,8}", t in "[abAé]{0,10}") {
            let (pc, tc): (Vec<char>, Vec<char>) = (p.chars().collect(), t.chars().collect());
            proptest::prop_assert_eq!(glob_match(&p, &t), reference(&pc, &tc));
        }
    }
}
