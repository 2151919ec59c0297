//! A small backtracking matcher for parameters' `AllowedPattern`.
//!
//! CloudFormation checks `AllowedPattern` as a Java regular expression that must match the whole
//! value. The workspace has no regex crate, and parameter patterns use a small subset (classes,
//! anchors, groups, alternation, quantifiers), so this module implements that subset. Anything
//! beyond it (lookaround, back-references, word boundaries, class intersections) is reported as
//! [`Unsupported`] so that the caller warns instead of accepting or rejecting blindly.

use std::cell::Cell;

/// The pattern uses syntax this matcher does not implement, or is too costly to match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unsupported(pub String);

#[derive(Debug, Clone)]
enum Node {
    /// Any character in (or, when negated, outside) the ranges.
    Class {
        ranges: Vec<(char, char)>,
        negated: bool,
    },
    Start,
    End,
    Group(Vec<Vec<Node>>),
    Repeat {
        node: Box<Node>,
        min: u32,
        max: Option<u32>,
        greedy: bool,
    },
}

const DIGIT: &[(char, char)] = &[('0', '9')];
const WORD: &[(char, char)] = &[('a', 'z'), ('A', 'Z'), ('0', '9'), ('_', '_')];
const SPACE: &[(char, char)] = &[(' ', ' '), ('\t', '\r')];

/// Whether `value` matches `pattern` entirely (Java's `String.matches`).
pub(crate) fn full_match(pattern: &str, value: &str) -> Result<bool, Unsupported> {
    let mut parser = Parser {
        chars: pattern.chars().collect(),
        pos: 0,
    };
    let alternatives = parser.alternatives()?;
    if parser.pos != parser.chars.len() {
        return Err(Unsupported(format!(
            "unbalanced ')' at offset {}",
            parser.pos
        )));
    }
    let matcher = Matcher {
        input: value.chars().collect(),
        // Parameter values are short; the budget only stops pathological patterns.
        budget: Cell::new(1_000_000),
    };
    let len = matcher.input.len();
    let top = Node::Group(alternatives);
    let matched = matcher.node(&top, 0, &mut |end| end == len);
    if !matched && matcher.budget.get() == 0 {
        return Err(Unsupported("the pattern is too costly to match".into()));
    }
    Ok(matched)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += usize::from(c.is_some());
        c
    }

    fn alternatives(&mut self) -> Result<Vec<Vec<Node>>, Unsupported> {
        let mut alternatives = vec![self.sequence()?];
        while self.peek() == Some('|') {
            self.pos += 1;
            alternatives.push(self.sequence()?);
        }
        Ok(alternatives)
    }

    fn sequence(&mut self) -> Result<Vec<Node>, Unsupported> {
        let mut seq = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            seq.push(self.quantified(atom)?);
        }
        Ok(seq)
    }

    fn atom(&mut self) -> Result<Node, Unsupported> {
        let Some(c) = self.next() else {
            return Err(Unsupported("unexpected end".into()));
        };
        Ok(match c {
            '(' => {
                if self.peek() == Some('?') {
                    if self.chars.get(self.pos + 1) == Some(&':') {
                        self.pos += 2;
                    } else {
                        return Err(Unsupported("lookaround or inline flags".into()));
                    }
                }
                let alternatives = self.alternatives()?;
                if self.next() != Some(')') {
                    return Err(Unsupported("unclosed group".into()));
                }
                Node::Group(alternatives)
            }
            '[' => self.class()?,
            '.' => Node::Class {
                ranges: vec![('\n', '\n')],
                negated: true,
            },
            '^' => Node::Start,
            '$' => Node::End,
            '\\' => self.escape(false)?,
            '*' | '+' | '?' => return Err(Unsupported(format!("dangling quantifier {c}"))),
            c => literal(c),
        })
    }

    /// After a backslash. Inside a class, negated shorthands cannot be expressed as ranges.
    fn escape(&mut self, in_class: bool) -> Result<Node, Unsupported> {
        let Some(c) = self.next() else {
            return Err(Unsupported("trailing backslash".into()));
        };
        let class = |ranges: &[(char, char)], negated: bool| Node::Class {
            ranges: ranges.to_vec(),
            negated,
        };
        Ok(match c {
            'd' => class(DIGIT, false),
            'w' => class(WORD, false),
            's' => class(SPACE, false),
            'D' | 'W' | 'S' if in_class => {
                return Err(Unsupported(format!("\\{c} inside a class")));
            }
            'D' => class(DIGIT, true),
            'W' => class(WORD, true),
            'S' => class(SPACE, true),
            'A' if !in_class => Node::Start,
            'z' | 'Z' if !in_class => Node::End,
            't' => literal('\t'),
            'n' => literal('\n'),
            'r' => literal('\r'),
            'f' => literal('\u{c}'),
            c if c.is_ascii_alphanumeric() => {
                return Err(Unsupported(format!("escape \\{c}")));
            }
            c => literal(c),
        })
    }

    fn class(&mut self) -> Result<Node, Unsupported> {
        let negated = self.peek() == Some('^');
        self.pos += usize::from(negated);
        let mut ranges = Vec::new();
        let mut first = true;
        loop {
            let Some(c) = self.next() else {
                return Err(Unsupported("unclosed class".into()));
            };
            match c {
                ']' if !first => break,
                '[' => return Err(Unsupported("nested class".into())),
                '&' if self.peek() == Some('&') => {
                    return Err(Unsupported("class intersection".into()));
                }
                '\\' => match self.escape(true)? {
                    Node::Class { ranges: r, .. } => {
                        // A single escaped character may start a range.
                        if let [(lo, hi)] = r.as_slice()
                            && lo == hi
                        {
                            ranges.push(self.range_from(*lo)?);
                        } else {
                            ranges.extend(r);
                        }
                    }
                    _ => return Err(Unsupported("anchor inside a class".into())),
                },
                c => ranges.push(self.range_from(c)?),
            }
            first = false;
        }
        Ok(Node::Class { ranges, negated })
    }

    /// `lo` or, when a `-` and a bound follow, `lo-hi`.
    fn range_from(&mut self, lo: char) -> Result<(char, char), Unsupported> {
        if self.peek() == Some('-') && self.chars.get(self.pos + 1).is_some_and(|c| *c != ']') {
            self.pos += 1;
            let hi = match self.next() {
                Some('\\') => match self.escape(true)? {
                    Node::Class { ranges, .. }
                        if ranges.len() == 1 && ranges[0].0 == ranges[0].1 =>
                    {
                        ranges[0].0
                    }
                    _ => return Err(Unsupported("class shorthand as a range bound".into())),
                },
                Some(c) => c,
                None => return Err(Unsupported("unclosed class".into())),
            };
            if hi < lo {
                return Err(Unsupported(format!("reversed range {lo}-{hi}")));
            }
            return Ok((lo, hi));
        }
        Ok((lo, lo))
    }

    fn quantified(&mut self, atom: Node) -> Result<Node, Unsupported> {
        let (min, max) = match self.peek() {
            Some('{') => match self.braces() {
                Some(bounds) => bounds,
                // Java rejects a stray `{`; treat it as unsupported rather than guess.
                None => return Err(Unsupported("malformed {n,m} quantifier".into())),
            },
            Some(c @ ('*' | '+' | '?')) => {
                self.pos += 1;
                match c {
                    '*' => (0, None),
                    '+' => (1, None),
                    _ => (0, Some(1)),
                }
            }
            _ => return Ok(atom),
        };
        if matches!(atom, Node::Start | Node::End) {
            return Err(Unsupported("quantified anchor".into()));
        }
        let greedy = match self.peek() {
            Some('?') => {
                self.pos += 1;
                false
            }
            // Possessive quantifiers only change performance for whole-string matches of
            // simple patterns; matching them greedily is close enough.
            Some('+') => {
                self.pos += 1;
                true
            }
            _ => true,
        };
        Ok(Node::Repeat {
            node: Box::new(atom),
            min,
            max,
            greedy,
        })
    }

    /// Parses `{n}`, `{n,}` or `{n,m}` and moves past it.
    fn braces(&mut self) -> Option<(u32, Option<u32>)> {
        let close = self.chars[self.pos..].iter().position(|c| *c == '}')? + self.pos;
        let body: String = self.chars[self.pos + 1..close].iter().collect();
        let (min, max) = match body.split_once(',') {
            None => {
                let n = body.trim().parse().ok()?;
                (n, Some(n))
            }
            Some((lo, "")) => (lo.trim().parse().ok()?, None),
            Some((lo, hi)) => (lo.trim().parse().ok()?, Some(hi.trim().parse().ok()?)),
        };
        if max.is_some_and(|m| m < min) {
            return None;
        }
        self.pos = close + 1;
        Some((min, max))
    }
}

fn literal(c: char) -> Node {
    Node::Class {
        ranges: vec![(c, c)],
        negated: false,
    }
}

struct Matcher {
    input: Vec<char>,
    budget: Cell<u32>,
}

impl Matcher {
    /// Whether `node` matches at `pos` with some end position for which `k` holds.
    fn node(&self, node: &Node, pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
        let left = self.budget.get();
        if left == 0 {
            return false;
        }
        self.budget.set(left - 1);
        match node {
            Node::Class { ranges, negated } => match self.input.get(pos) {
                Some(c) if ranges.iter().any(|(lo, hi)| lo <= c && c <= hi) != *negated => {
                    k(pos + 1)
                }
                _ => false,
            },
            Node::Start => pos == 0 && k(pos),
            Node::End => pos == self.input.len() && k(pos),
            Node::Group(alternatives) => alternatives.iter().any(|seq| self.seq(seq, pos, k)),
            Node::Repeat {
                node,
                min,
                max,
                greedy,
            } => self.repeat(node, *min, *max, *greedy, 0, pos, k),
        }
    }

    fn seq(&self, seq: &[Node], pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
        match seq.split_first() {
            None => k(pos),
            Some((first, rest)) => self.node(first, pos, &mut |p| self.seq(rest, p, k)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn repeat(
        &self,
        node: &Node,
        min: u32,
        max: Option<u32>,
        greedy: bool,
        count: u32,
        pos: usize,
        k: &mut dyn FnMut(usize) -> bool,
    ) -> bool {
        if count < min {
            return self.node(node, pos, &mut |p| {
                self.repeat(node, min, max, greedy, count + 1, p, k)
            });
        }
        let may_repeat = max.is_none_or(|m| count < m);
        let more = |k: &mut dyn FnMut(usize) -> bool| {
            // An iteration that consumes nothing cannot lead anywhere new: stop there, or
            // `(a*)*` would loop forever.
            may_repeat
                && self.node(node, pos, &mut |p| {
                    p != pos && self.repeat(node, min, max, greedy, count + 1, p, k)
                })
        };
        // The order of the two tries is the whole difference between greedy and lazy.
        if greedy {
            if more(k) {
                return true;
            }
            k(pos)
        } else {
            if k(pos) {
                return true;
            }
            more(k)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::full_match;

    #[test]
    fn matches_whole_values() {
        let cases: &[(&str, &str, bool)] = &[
            ("^[A-Za-z0-9_-]{1,128}$", "prod", true),
            ("^[A-Za-z0-9_-]{1,128}$", "pr od", false),
            ("^[A-Za-z0-9_-]{1,128}$", "", false),
            ("[a-z]+", "abc", true),
            ("[a-z]+", "abc1", false),
            ("\\d{3}", "123", true),
            ("\\d{3}", "1234", false),
            ("(dev|prod)-\\w*", "prod-x_1", true),
            ("(?:dev|prod)", "test", false),
            ("a.c", "abc", true),
            ("a\\.c", "abc", false),
            ("[^/]+", "a/b", false),
            ("(a*)*b", "aaab", true),
            ("x?y+?", "yy", true),
            ("https?://.*", "https://x", true),
            ("[\\w.-]+@[a-z]+\\.com", "me.x-y@ex.com", true),
        ];
        for (pattern, value, expected) in cases {
            assert_eq!(
                full_match(pattern, value),
                Ok(*expected),
                "{pattern} on {value:?}"
            );
        }
    }

    #[test]
    fn reports_what_it_cannot_check() {
        for pattern in ["(?=a)a", "\\bword", "(a)\\1", "[a&&b]", "a{x}"] {
            assert!(full_match(pattern, "a").is_err(), "{pattern}");
        }
    }
}
