//! `.dockerignore` patterns, read and matched with the Docker CLI's rules (moby's
//! `patternmatcher` and `ignorefile`): one pattern a line, `#` comments, `!` re-includes, paths
//! cleaned and relative to the context, `*` and `?` within one path segment, `**` across any
//! number of segments, `[...]` classes, `\` escapes. A path is excluded when the last pattern
//! that matches it, or one of its parent directories, is not an exception.

/// The patterns of one ignore file.
#[derive(Debug, Default, Clone)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    exception: bool,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Char(char),
    /// `*`: any run of characters but `/`.
    Star,
    /// `?`: one character but `/`.
    One,
    /// `**` inside a pattern: any number of whole segments, each followed by `/` (even none).
    Segments,
    /// `**` at the end: anything at all.
    Rest,
    Class {
        negated: bool,
        items: Vec<(char, char)>,
    },
}

impl Ignore {
    /// Reads the text of an ignore file as the Docker CLI does.
    pub fn parse(text: &str) -> Ignore {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let patterns = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let line = line.trim();
                let (exception, rest) = match line.strip_prefix('!') {
                    Some(rest) => (true, rest.trim()),
                    None => (false, line),
                };
                if line.is_empty() {
                    return None;
                }
                Some(Pattern {
                    exception,
                    tokens: compile(&clean(rest)),
                })
            })
            .collect();
        Ignore { patterns }
    }

    /// Adds an exception for `path`, so it is sent whatever the file says (the Docker CLI does
    /// this for the Dockerfile and the ignore file itself).
    pub fn keep(&mut self, path: &str) {
        if self.excludes(path) {
            self.patterns.push(Pattern {
                exception: true,
                tokens: compile(&clean(path)),
            });
        }
    }

    /// Whether `path` (relative to the context, `/`-separated) stays out of the context.
    pub fn excludes(&self, path: &str) -> bool {
        let parents: Vec<&str> = path
            .match_indices('/')
            .map(|(i, _)| &path[..i])
            .filter(|p| !p.is_empty())
            .collect();
        let mut excluded = false;
        for pattern in &self.patterns {
            // Only a pattern that could change the answer is tried, as moby does.
            if pattern.exception != excluded {
                continue;
            }
            let matches = pattern.matches(path) || parents.iter().any(|p| pattern.matches(p));
            if matches {
                excluded = !pattern.exception;
            }
        }
        excluded
    }

    /// Whether any pattern re-includes something: then an excluded directory must still be
    /// looked into.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        let chars: Vec<char> = path.chars().collect();
        match_tokens(&self.tokens, &chars)
    }
}

/// `filepath.Clean` for `/`-separated paths, then without a leading `/`.
fn clean(pattern: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in pattern.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !pattern.starts_with('/') {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return ".".to_string();
    }
    parts.join("/")
}

fn compile(pattern: &str) -> Vec<Token> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                tokens.push(if i >= chars.len() { Token::Rest } else { Token::Segments });
                continue;
            }
            '*' => tokens.push(Token::Star),
            '?' => tokens.push(Token::One),
            '\\' if i + 1 < chars.len() => {
                i += 1;
                tokens.push(Token::Char(chars[i]));
            }
            '[' => {
                if let Some((class, next)) = class(&chars, i + 1) {
                    tokens.push(class);
                    i = next;
                    continue;
                }
                tokens.push(Token::Char('['));
            }
            c => tokens.push(Token::Char(c)),
        }
        i += 1;
    }
    tokens
}

/// A `[...]` class starting after the `[` at `start`; returns it and the index after `]`.
fn class(chars: &[char], start: usize) -> Option<(Token, usize)> {
    let mut i = start;
    // moby hands the class to Go's regexp: `^` negates, `!` is a plain character.
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut items = Vec::new();
    let mut first = true;
    loop {
        let c = *chars.get(i)?;
        if c == ']' && !first {
            return Some((Token::Class { negated, items }, i + 1));
        }
        first = false;
        let lo = if c == '\\' {
            i += 1;
            *chars.get(i)?
        } else {
            c
        };
        i += 1;
        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|c| *c != ']') {
            let mut hi = chars[i + 1];
            i += 2;
            if hi == '\\' {
                hi = *chars.get(i)?;
                i += 1;
            }
            items.push((lo, hi));
        } else {
            items.push((lo, lo));
        }
    }
}

/// Whole-string match with backtracking (patterns are short; paths too).
fn match_tokens(tokens: &[Token], text: &[char]) -> bool {
    let Some((first, rest)) = tokens.split_first() else {
        return text.is_empty();
    };
    match first {
        Token::Char(c) => text.first() == Some(c) && match_tokens(rest, &text[1..]),
        Token::One => text.first().is_some_and(|c| *c != '/') && match_tokens(rest, &text[1..]),
        Token::Class { negated, items } => text.first().is_some_and(|c| {
            items.iter().any(|(lo, hi)| lo <= c && c <= hi) != *negated && match_tokens(rest, &text[1..])
        }),
        Token::Star => {
            let run = text.iter().take_while(|c| **c != '/').count();
            (0..=run).any(|n| match_tokens(rest, &text[n..]))
        }
        Token::Rest => true,
        Token::Segments => {
            // Zero segments, or up to and including any later `/`.
            match_tokens(rest, text)
                || text
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c == '/')
                    .any(|(i, _)| match_tokens(rest, &text[i + 1..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excluded(file: &str, path: &str) -> bool {
        Ignore::parse(file).excludes(path)
    }

    #[test]
    fn plain_names_and_their_contents() {
        let f = "# comment\n.env\ndata\n  node_modules  \n";
        assert!(excluded(f, ".env"));
        assert!(excluded(f, "data"));
        assert!(excluded(f, "data/big/file.bin"));
        assert!(excluded(f, "node_modules/x"));
        assert!(!excluded(f, "src/.env"), "a pattern is anchored at the context root");
        assert!(!excluded(f, "# comment"));
        assert!(!excluded(f, "database"));
    }

    #[test]
    fn wildcards_stay_within_a_segment() {
        let f = "*.log\nsrc/*/tmp\nfile?.txt\n";
        assert!(excluded(f, "a.log"));
        assert!(!excluded(f, "logs/a.log"));
        assert!(excluded(f, "src/x/tmp"));
        assert!(excluded(f, "src/x/tmp/inner"));
        assert!(!excluded(f, "src/x/y/tmp"));
        assert!(excluded(f, "file1.txt"));
        assert!(!excluded(f, "file10.txt"));
    }

    #[test]
    fn double_star_crosses_segments() {
        let f = "**/*.pyc\ndocs/**\n**/secret\n";
        assert!(excluded(f, "a.pyc"));
        assert!(excluded(f, "a/b/c.pyc"));
        assert!(excluded(f, "docs/x/y"));
        assert!(excluded(f, "secret"));
        assert!(excluded(f, "deep/down/secret"));
        assert!(!excluded(f, "docsx"));
    }

    #[test]
    fn the_last_matching_pattern_wins() {
        let f = "*.md\n!README.md\nREADME*.md\n";
        assert!(excluded(f, "CHANGES.md"));
        assert!(excluded(f, "README.md"));
        let f = "data\n!data/keep.txt\n";
        assert!(excluded(f, "data/other"));
        assert!(!excluded(f, "data/keep.txt"));
        assert!(Ignore::parse(f).has_exceptions());
    }

    #[test]
    fn paths_are_cleaned() {
        let f = "/abs\n./dot/\nx/../y\n";
        assert!(excluded(f, "abs"));
        assert!(excluded(f, "dot/file"));
        assert!(excluded(f, "y"));
        assert!(!excluded(f, "x"));
    }

    #[test]
    fn classes_and_escapes() {
        let f = "[a-c].txt\n[^x]y\n\\*star\n[!q]z\n";
        assert!(excluded(f, "b.txt"));
        assert!(!excluded(f, "d.txt"));
        assert!(excluded(f, "zy"));
        assert!(!excluded(f, "xy"));
        assert!(
            excluded(f, "!z"),
            "`!` in a class is a plain character, as in Go's regexp"
        );
        assert!(!excluded(f, "az"));
        assert!(excluded(f, "*star"));
        assert!(!excluded(f, "astar"));
    }

    #[test]
    fn kept_files_are_sent_anyway() {
        let mut ignore = Ignore::parse("*\n");
        ignore.keep("Dockerfile");
        ignore.keep(".dockerignore");
        assert!(!ignore.excludes("Dockerfile"));
        assert!(!ignore.excludes(".dockerignore"));
        assert!(ignore.excludes("other"));
    }

    #[test]
    fn everything_and_nothing() {
        assert!(excluded("*\n", "anything"));
        assert!(excluded("**\n", "a/b"));
        assert!(!excluded("", "a"));
        assert!(!excluded("!\n", "a"));
    }
}
