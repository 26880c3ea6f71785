//! The small expression language of a report's derived columns
//! (`derive = [{ name = "revenue_eur", expr = "revenue / USD" }]`): fields,
//! numbers, texts, arithmetic, comparisons, `and`/`or`/`not`, and a few
//! functions (`if`, `coalesce`, casts, text and date parts), parsed into a
//! tree with errors that say where.
//!
//! Plain data and parsing only: turning a tree into a Polars expression is the
//! report engine's (`engine::report::derive`).

use std::fmt;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Field(String),
    Integer(i64),
    Float(f64),
    Text(String),
    Boolean(bool),
    Null,
    Negate(Box<Expr>),
    Not(Box<Expr>),
    Binary(Box<Expr>, BinaryOp, Box<Expr>),
    Call(Function, Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Subtract,
    Multiply,
    /// Always a division of numbers as decimals (`5 / 2` is 2.5), as in SQL engines' `/` on floats.
    Divide,
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    And,
    Or,
}

/// The functions an expression can call, with how many arguments each takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// `if(condition, then, else)`.
    If,
    /// The first of its arguments that is not null.
    Coalesce,
    Abs,
    /// Casts: whole numbers (towards zero), decimals, texts.
    Int,
    Float,
    Text,
    Lower,
    Upper,
    /// Characters in a text.
    Length,
    Year,
    Month,
    Day,
    Hour,
    Minute,
    /// 1 (Monday) … 7 (Sunday).
    Weekday,
    /// The calendar day of a datetime.
    Date,
}

impl Function {
    const ALL: [(&'static str, Function); 16] = [
        ("if", Function::If),
        ("coalesce", Function::Coalesce),
        ("abs", Function::Abs),
        ("int", Function::Int),
        ("float", Function::Float),
        ("text", Function::Text),
        ("lower", Function::Lower),
        ("upper", Function::Upper),
        ("length", Function::Length),
        ("year", Function::Year),
        ("month", Function::Month),
        ("day", Function::Day),
        ("hour", Function::Hour),
        ("minute", Function::Minute),
        ("weekday", Function::Weekday),
        ("date", Function::Date),
    ];

    fn named(name: &str) -> Option<Function> {
        Self::ALL.iter().find(|(known, _)| known.eq_ignore_ascii_case(name)).map(|(_, function)| *function)
    }

    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, function)| *function == self).map_or("?", |(name, _)| name)
    }

    /// The fewest and the most arguments it takes.
    fn arity(self) -> (usize, usize) {
        match self {
            Function::If => (3, 3),
            Function::Coalesce => (1, usize::MAX),
            _ => (1, 1),
        }
    }

    /// The names of every function, for error messages and the builder's help.
    pub fn names() -> String {
        Self::ALL.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
    }
}

impl Expr {
    /// Every field the expression reads, each once, in order of appearance.
    pub fn fields(&self) -> Vec<&str> {
        let mut fields = Vec::new();
        self.collect_fields(&mut fields);
        fields
    }

    fn collect_fields<'a>(&'a self, fields: &mut Vec<&'a str>) {
        match self {
            Expr::Field(name) => {
                if !fields.contains(&name.as_str()) {
                    fields.push(name);
                }
            }
            Expr::Negate(inner) | Expr::Not(inner) => inner.collect_fields(fields),
            Expr::Binary(left, _, right) => {
                left.collect_fields(fields);
                right.collect_fields(fields);
            }
            Expr::Call(_, arguments) => arguments.iter().for_each(|argument| argument.collect_fields(fields)),
            Expr::Integer(_) | Expr::Float(_) | Expr::Text(_) | Expr::Boolean(_) | Expr::Null => {}
        }
    }
}

/// Why an expression could not be read, and at which character (counted from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at character {}: {}", self.column, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Parses `text` into an expression.
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    let tokens = tokenize(text)?;
    let mut parser = Parser { tokens: &tokens, at: 0, end: text.chars().count() + 1 };
    let expr = parser.or()?;
    match parser.peek() {
        None => Ok(expr),
        Some((column, token)) => {
            Err(ParseError { column, message: format!("unexpected {token} after a whole expression") })
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Name(String),
    /// A `back-quoted` field name: never a keyword or a function.
    QuotedName(String),
    Integer(i64),
    Float(f64),
    Text(String),
    Symbol(&'static str),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Name(name) | Token::QuotedName(name) => write!(f, "`{name}`"),
            Token::Integer(value) => write!(f, "the number {value}"),
            Token::Float(value) => write!(f, "the number {value}"),
            Token::Text(text) => write!(f, "the text '{text}'"),
            Token::Symbol(symbol) => write!(f, "`{symbol}`"),
        }
    }
}

const SYMBOLS: [&str; 16] = ["==", "!=", "<>", "<=", ">=", "(", ")", ",", "+", "-", "*", "/", "=", "<", ">", "!"];

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let start = at;
        let column = start + 1;
        let c = chars[at];
        if c.is_whitespace() {
            at += 1;
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(at + 1).is_some_and(char::is_ascii_digit)) {
            while at < chars.len() && (chars[at].is_ascii_digit() || chars[at] == '.' || chars[at] == '_') {
                at += 1;
            }
            let written: String = chars[start..at].iter().filter(|&&c| c != '_').collect();
            let token = if written.contains('.') {
                written.parse().map(Token::Float)
            } else {
                written.parse().map(Token::Integer).or_else(|_| written.parse().map(Token::Float))
            };
            tokens.push((
                column,
                token.map_err(|_| ParseError { column, message: format!("`{written}` is not a number") })?,
            ));
        } else if c.is_alphabetic() || c == '_' {
            while at < chars.len() && (chars[at].is_alphanumeric() || chars[at] == '_' || chars[at] == '.') {
                at += 1;
            }
            tokens.push((column, Token::Name(chars[start..at].iter().collect())));
        } else if c == '\'' || c == '"' || c == '`' {
            let (content, next) = quoted(&chars, at)?;
            at = next;
            tokens.push((column, if c == '`' { Token::QuotedName(content) } else { Token::Text(content) }));
        } else if let Some(symbol) = SYMBOLS.iter().find(|symbol| {
            let symbol: Vec<char> = symbol.chars().collect();
            chars[at..].starts_with(&symbol)
        }) {
            at += symbol.chars().count();
            tokens.push((column, Token::Symbol(symbol)));
        } else {
            return Err(ParseError { column, message: format!("`{c}` has no meaning here") });
        }
    }
    Ok(tokens)
}

/// The text between the quote at `at` and its closing twin (written twice to stand for itself).
fn quoted(chars: &[char], at: usize) -> Result<(String, usize), ParseError> {
    let quote = chars[at];
    let mut content = String::new();
    let mut next = at + 1;
    loop {
        match chars.get(next) {
            None => {
                return Err(ParseError { column: at + 1, message: format!("the {quote} opened here is never closed") });
            }
            Some(&c) if c == quote && chars.get(next + 1) == Some(&quote) => {
                content.push(quote);
                next += 2;
            }
            Some(&c) if c == quote => return Ok((content, next + 1)),
            Some(&c) => {
                content.push(c);
                next += 1;
            }
        }
    }
}

struct Parser<'a> {
    tokens: &'a [(usize, Token)],
    at: usize,
    /// The column just past the text, for "ended too early".
    end: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<(usize, &Token)> {
        self.tokens.get(self.at).map(|(column, token)| (*column, token))
    }

    fn is_symbol(&self, symbol: &str) -> bool {
        matches!(self.peek(), Some((_, Token::Symbol(s))) if *s == symbol)
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some((_, Token::Name(name))) if name.eq_ignore_ascii_case(keyword))
    }

    fn expect_symbol(&mut self, symbol: &str, after: &str) -> Result<(), ParseError> {
        if self.is_symbol(symbol) {
            self.at += 1;
            return Ok(());
        }
        Err(self.error(&format!("expected `{symbol}` {after}")))
    }

    fn error(&self, expected: &str) -> ParseError {
        match self.peek() {
            Some((column, token)) => ParseError { column, message: format!("{expected}, found {token}") },
            None => ParseError { column: self.end, message: format!("{expected}, but the expression ends") },
        }
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and()?;
        while self.is_keyword("or") {
            self.at += 1;
            left = Expr::Binary(Box::new(left), BinaryOp::Or, Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.not()?;
        while self.is_keyword("and") {
            self.at += 1;
            left = Expr::Binary(Box::new(left), BinaryOp::And, Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, ParseError> {
        if self.is_keyword("not") || self.is_symbol("!") {
            self.at += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, ParseError> {
        let left = self.sum()?;
        let op = match self.peek() {
            Some((_, Token::Symbol("=" | "=="))) => BinaryOp::Equal,
            Some((_, Token::Symbol("!=" | "<>"))) => BinaryOp::NotEqual,
            Some((_, Token::Symbol("<"))) => BinaryOp::Less,
            Some((_, Token::Symbol("<="))) => BinaryOp::LessOrEqual,
            Some((_, Token::Symbol(">"))) => BinaryOp::Greater,
            Some((_, Token::Symbol(">="))) => BinaryOp::GreaterOrEqual,
            _ => return Ok(left),
        };
        self.at += 1;
        Ok(Expr::Binary(Box::new(left), op, Box::new(self.sum()?)))
    }

    fn sum(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.product()?;
        loop {
            let op = match self.peek() {
                Some((_, Token::Symbol("+"))) => BinaryOp::Add,
                Some((_, Token::Symbol("-"))) => BinaryOp::Subtract,
                _ => return Ok(left),
            };
            self.at += 1;
            left = Expr::Binary(Box::new(left), op, Box::new(self.product()?));
        }
    }

    fn product(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Some((_, Token::Symbol("*"))) => BinaryOp::Multiply,
                Some((_, Token::Symbol("/"))) => BinaryOp::Divide,
                _ => return Ok(left),
            };
            self.at += 1;
            left = Expr::Binary(Box::new(left), op, Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.is_symbol("-") {
            self.at += 1;
            return Ok(match self.unary()? {
                Expr::Integer(value) => Expr::Integer(-value),
                Expr::Float(value) => Expr::Float(-value),
                other => Expr::Negate(Box::new(other)),
            });
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Expr, ParseError> {
        let Some((column, token)) = self.peek() else {
            return Err(self.error("expected a field, a number, a text or `(`"));
        };
        let token = token.clone();
        self.at += 1;
        match token {
            Token::Integer(value) => Ok(Expr::Integer(value)),
            Token::Float(value) => Ok(Expr::Float(value)),
            Token::Text(text) => Ok(Expr::Text(text)),
            Token::QuotedName(name) => Ok(Expr::Field(name)),
            Token::Symbol("(") => {
                let inner = self.or()?;
                self.expect_symbol(")", "to close the `(`")?;
                Ok(inner)
            }
            Token::Name(name) if self.is_symbol("(") => self.call(column, &name),
            Token::Name(name) => Ok(match name.to_ascii_lowercase().as_str() {
                "true" => Expr::Boolean(true),
                "false" => Expr::Boolean(false),
                "null" => Expr::Null,
                "and" | "or" | "not" => {
                    return Err(ParseError { column, message: format!("`{name}` needs something on its left") });
                }
                _ => Expr::Field(name),
            }),
            Token::Symbol(_) => {
                self.at -= 1;
                Err(self.error("expected a field, a number, a text or `(`"))
            }
        }
    }

    fn call(&mut self, column: usize, name: &str) -> Result<Expr, ParseError> {
        let function = Function::named(name).ok_or_else(|| ParseError {
            column,
            message: format!("there is no function `{name}`; the functions are {}", Function::names()),
        })?;
        self.at += 1; // the `(`
        let mut arguments = Vec::new();
        if !self.is_symbol(")") {
            loop {
                arguments.push(self.or()?);
                if self.is_symbol(",") {
                    self.at += 1;
                } else {
                    break;
                }
            }
        }
        self.expect_symbol(")", &format!("to close `{}(`", function.name()))?;
        let (fewest, most) = function.arity();
        if arguments.len() < fewest || arguments.len() > most {
            let wanted = match (fewest, most) {
                (1, 1) => "one argument".to_string(),
                (fewest, usize::MAX) => format!("at least {fewest} arguments"),
                (fewest, _) => format!("{fewest} arguments"),
            };
            return Err(ParseError {
                column,
                message: format!("`{}` takes {wanted}, not {}", function.name(), arguments.len()),
            });
        }
        Ok(Expr::Call(function, arguments))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::unnecessary_box_returns)] // the tree holds boxes
    fn field(name: &str) -> Box<Expr> {
        Box::new(Expr::Field(name.into()))
    }

    #[test]
    fn arithmetic_binds_as_in_school() {
        let parsed = parse("revenue - cost * 2").unwrap();
        let expected = Expr::Binary(
            field("revenue"),
            BinaryOp::Subtract,
            Box::new(Expr::Binary(field("cost"), BinaryOp::Multiply, Box::new(Expr::Integer(2)))),
        );
        assert_eq!(parsed, expected);
        let grouped = parse("(revenue - cost) * 2").unwrap();
        assert!(matches!(grouped, Expr::Binary(_, BinaryOp::Multiply, _)), "{grouped:?}");
    }

    #[test]
    fn comparisons_and_logic_and_calls() {
        let parsed = parse("if(country = 'DE' and not vip, price * 1.19, price)").unwrap();
        let Expr::Call(Function::If, arguments) = &parsed else { panic!("{parsed:?}") };
        assert_eq!(arguments.len(), 3);
        assert!(matches!(&arguments[0], Expr::Binary(_, BinaryOp::And, right) if matches!(**right, Expr::Not(_))));
        assert_eq!(parsed.fields(), ["country", "vip", "price"]);
    }

    #[test]
    fn dotted_and_quoted_field_names() {
        assert_eq!(parse("price.amount").unwrap(), Expr::Field("price.amount".into()));
        assert_eq!(parse("`unit price` + 1").unwrap().fields(), ["unit price"]);
        assert_eq!(parse("'it''s'").unwrap(), Expr::Text("it's".into()));
        assert_eq!(parse("-3").unwrap(), Expr::Integer(-3));
        assert_eq!(parse("1_000.5").unwrap(), Expr::Float(1000.5));
    }

    #[test]
    fn errors_say_where_and_what() {
        let error = parse("revenue / ").unwrap_err();
        assert_eq!(error.column, 11, "{error}");
        assert!(error.message.contains("the expression ends"), "{error}");
        let error = parse("round(x)").unwrap_err();
        assert_eq!(error.column, 1);
        assert!(error.message.contains("no function `round`") && error.message.contains("coalesce"), "{error}");
        let error = parse("if(a, b)").unwrap_err();
        assert!(error.message.contains("`if` takes 3 arguments, not 2"), "{error}");
        let error = parse("a + 'open").unwrap_err();
        assert_eq!((error.column, error.message.contains("never closed")), (5, true), "{error}");
        let error = parse("(a + b").unwrap_err();
        assert!(error.message.contains("expected `)` to close the `(`"), "{error}");
        let error = parse("a b").unwrap_err();
        assert_eq!(error.column, 3, "{error}");
        let error = parse("a # b").unwrap_err();
        assert!(error.message.contains("`#` has no meaning"), "{error}");
    }
}
