//! Meta rule expressions: boolean and counting formulas over other rules' names (AL-1.2).
//!
//! ```text
//! expr    := or
//! or      := and ( "||" and )*
//! and     := compare ( "&&" compare )*
//! compare := sum ( (">=" | ">" | "<=" | "<" | "==" | "!=") sum )?
//! sum     := unary ( "+" unary )*
//! unary   := "!" unary | NAME | NUMBER | "(" expr ")"
//! ```
//!
//! A name is 1 when that rule matched and 0 otherwise, so `(A + B + C) >= 2` counts; any
//! non-zero value is true. Nesting is bounded ([`MAX_DEPTH`]), so a hostile rule file cannot
//! overflow the stack.

/// Parentheses and `!` nested deeper than this are refused.
pub const MAX_DEPTH: usize = 32;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Rule(String),
    Number(f64),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Sum(Vec<Expr>),
    Compare(Box<Expr>, Cmp, Box<Expr>),
}

/// A comparison operator (also used by `check` rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
    Ne,
}

impl Cmp {
    pub fn parse(s: &str) -> Option<Cmp> {
        Some(match s {
            ">=" => Cmp::Ge,
            ">" => Cmp::Gt,
            "<=" => Cmp::Le,
            "<" => Cmp::Lt,
            "==" => Cmp::Eq,
            "!=" => Cmp::Ne,
            _ => return None,
        })
    }

    pub fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Cmp::Ge => a >= b,
            Cmp::Gt => a > b,
            Cmp::Le => a <= b,
            Cmp::Lt => a < b,
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
        }
    }
}

impl Expr {
    /// The value with `matched` telling whether a named rule matched.
    pub fn value(&self, matched: &dyn Fn(&str) -> bool) -> f64 {
        let truth = |b: bool| if b { 1.0 } else { 0.0 };
        match self {
            Expr::Rule(n) => truth(matched(n)),
            Expr::Number(x) => *x,
            Expr::Not(e) => truth(e.value(matched) == 0.0),
            Expr::And(es) => truth(es.iter().all(|e| e.value(matched) != 0.0)),
            Expr::Or(es) => truth(es.iter().any(|e| e.value(matched) != 0.0)),
            Expr::Sum(es) => es.iter().map(|e| e.value(matched)).sum(),
            Expr::Compare(a, op, b) => truth(op.holds(a.value(matched), b.value(matched))),
        }
    }

    /// Every rule name the expression reads.
    pub fn names(&self, out: &mut Vec<String>) {
        match self {
            Expr::Rule(n) => out.push(n.clone()),
            Expr::Number(_) => {}
            Expr::Not(e) => e.names(out),
            Expr::And(es) | Expr::Or(es) | Expr::Sum(es) => es.iter().for_each(|e| e.names(out)),
            Expr::Compare(a, _, b) => {
                a.names(out);
                b.names(out);
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Num(f64),
    Op(&'static str),
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    const OPS: [&str; 12] = [
        "&&", "||", ">=", "<=", "==", "!=", ">", "<", "!", "+", "(", ")",
    ];
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        if let Some(op) = OPS.iter().find(|op| rest.starts_with(**op)) {
            out.push(Tok::Op(op));
            rest = &rest[op.len()..];
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                .unwrap_or(rest.len());
            if end == 0 {
                let c = rest.chars().next().unwrap_or(' ');
                return Err(format!("unexpected `{c}` in the expression"));
            }
            let word = &rest[..end];
            if word.starts_with(|c: char| c.is_ascii_digit()) {
                let n: f64 = word
                    .parse()
                    .map_err(|_| format!("`{word}` is not a number"))?;
                out.push(Tok::Num(n));
            } else if super::parse::valid_name(word) {
                out.push(Tok::Name(word.to_string()));
            } else {
                return Err(format!("`{word}` is not a rule name"));
            }
            rest = &rest[end..];
        }
        rest = rest.trim_start();
    }
    Ok(out)
}

/// Parses a meta expression.
pub fn parse(s: &str) -> Result<Expr, String> {
    let toks = lex(s)?;
    if toks.is_empty() {
        return Err("empty expression".into());
    }
    let mut p = Parser { toks, pos: 0 };
    let e = p.or(0)?;
    match p.toks.get(p.pos) {
        None => Ok(e),
        Some(t) => Err(format!("unexpected {} after the expression", show(t))),
    }
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Name(n) => format!("`{n}`"),
        Tok::Num(n) => format!("`{n}`"),
        Tok::Op(o) => format!("`{o}`"),
    }
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn eat(&mut self, op: &str) -> bool {
        if matches!(self.toks.get(self.pos), Some(Tok::Op(o)) if *o == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn list(
        &mut self,
        depth: usize,
        op: &str,
        next: fn(&mut Parser, usize) -> Result<Expr, String>,
        wrap: fn(Vec<Expr>) -> Expr,
    ) -> Result<Expr, String> {
        let mut items = vec![next(self, depth)?];
        while self.eat(op) {
            items.push(next(self, depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            wrap(items)
        })
    }

    fn or(&mut self, depth: usize) -> Result<Expr, String> {
        self.list(depth, "||", Parser::and, Expr::Or)
    }

    fn and(&mut self, depth: usize) -> Result<Expr, String> {
        self.list(depth, "&&", Parser::compare, Expr::And)
    }

    fn compare(&mut self, depth: usize) -> Result<Expr, String> {
        let left = self.sum(depth)?;
        if let Some(Tok::Op(o)) = self.toks.get(self.pos) {
            if let Some(cmp) = Cmp::parse(o) {
                self.pos += 1;
                let right = self.sum(depth)?;
                return Ok(Expr::Compare(Box::new(left), cmp, Box::new(right)));
            }
        }
        Ok(left)
    }

    fn sum(&mut self, depth: usize) -> Result<Expr, String> {
        self.list(depth, "+", Parser::unary, Expr::Sum)
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Op("!")) => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.unary(depth + 1)?)))
            }
            Some(Tok::Op("(")) => {
                self.pos += 1;
                let e = self.or(depth + 1)?;
                if !self.eat(")") {
                    return Err("a `(` is not closed".into());
                }
                Ok(e)
            }
            Some(Tok::Name(n)) => {
                self.pos += 1;
                Ok(Expr::Rule(n))
            }
            Some(Tok::Num(n)) => {
                self.pos += 1;
                Ok(Expr::Number(n))
            }
            Some(t) => Err(format!("unexpected {}", show(&t))),
            None => Err("the expression ends too early".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(expr: &str, hits: &[&str]) -> bool {
        parse(expr).unwrap().value(&|n| hits.contains(&n)) != 0.0
    }

    #[test]
    fn al_1_2_meta_boolean_and_counts() {
        assert!(eval("A && B", &["A", "B"]));
        assert!(!eval("A && B", &["A"]));
        assert!(eval("A || B", &["B"]));
        assert!(eval("A && !B", &["A"]));
        assert!(!eval("A && !B", &["A", "B"]));
        assert!(eval("(A + B + C) >= 2", &["A", "C"]));
        assert!(!eval("(A + B + C) >= 2", &["C"]));
        assert!(eval("!(A || B) && C", &["C"]));
        assert!(eval("A + B > 1 || __C", &["__C"]));
    }

    #[test]
    fn al_1_2_meta_parse_errors() {
        for bad in ["", "A &&", "(A || B", "A B", "A & B", "1x", "A ++ B"] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        let deep = format!("{}A{}", "(".repeat(40), ")".repeat(40));
        assert!(parse(&deep).unwrap_err().contains("nested deeper"));
    }
}
