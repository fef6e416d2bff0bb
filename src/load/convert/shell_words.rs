//! Shell-like word splitting for a `command` or `entrypoint` written as one string.

/// Splits a command string into words the way a POSIX shell would (quotes and backslashes; no
/// expansion), as compose does for string `command` and `entrypoint`.
pub fn shell_words(s: &str) -> Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unclosed single quote"),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("unclosed double quote"),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unclosed double quote"),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::shell_words;

    #[test]
    fn shell_words_like_compose() {
        assert_eq!(
            shell_words("nginx -g 'daemon off;'").unwrap(),
            vec!["nginx", "-g", "daemon off;"]
        );
        assert_eq!(
            shell_words(r#"sh -c "echo \"hi\" $X""#).unwrap(),
            vec!["sh", "-c", "echo \"hi\" $X"]
        );
        assert_eq!(shell_words("  a   b\\ c ''").unwrap(), vec!["a", "b c", ""]);
        assert!(shell_words("echo 'open").is_err());
    }
}
