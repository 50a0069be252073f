//! [`ParseError`]: why a verified body is not the event asked for, said without quoting the
//! body. serde_json's messages can quote it (a value, an unknown field or variant name), so
//! `Display` names only the kind of error and its position; the parser's message stays in
//! `source()` and [`ParseError::detail`].

use std::error::Error as StdError;
use std::fmt;

use super::BoxError;

/// Why a verified body could not be parsed into an event (HTTP 400).
///
/// `Display` says what was wrong and where (line and column), never what the body holds, so it
/// is fit for logs and response bodies. The parser's own message, which can quote the body, is
/// in [`detail`](Self::detail) and [`source`](StdError::source), for tools that ask for it.
#[derive(Debug)]
#[non_exhaustive]
pub enum ParseError {
    /// The body is not valid JSON (syntax error, truncated, or not UTF-8).
    #[non_exhaustive]
    InvalidJson {
        /// The line (from 1) where the parser stopped; 0 when it does not know.
        line: usize,
        /// The column (from 1) where the parser stopped.
        column: usize,
        /// The parser's error; its message can quote the body.
        source: BoxError,
    },
    /// The body is valid JSON but not the shape of the event type asked for.
    #[non_exhaustive]
    InvalidEvent {
        /// The line (from 1) where the parser stopped; 0 when it does not know.
        line: usize,
        /// The column (from 1) where the parser stopped.
        column: usize,
        /// The parser's error; its message can quote the body.
        source: BoxError,
    },
}

impl ParseError {
    /// Classifies the error of parsing `body`. A shape error can come before the syntax error
    /// (a complete event followed by junk fails on the event's shape first), so a shape error
    /// is only reported once the body is known to be valid JSON.
    pub(crate) fn from_json(error: serde_json::Error, body: &[u8]) -> Self {
        match error.classify() {
            serde_json::error::Category::Data => {
                // A full parse, not a skim: skipping strings (`IgnoredAny`) does not check that
                // they are UTF-8, and a shape error can come before the bytes that are not.
                match serde_json::from_slice::<serde_json::Value>(body) {
                    Ok(_) => Self::InvalidEvent {
                        line: error.line(),
                        column: error.column(),
                        source: Box::new(error),
                    },
                    Err(syntax) => Self::invalid_json(syntax),
                }
            }
            _ => Self::invalid_json(error),
        }
    }

    fn invalid_json(error: serde_json::Error) -> Self {
        Self::InvalidJson {
            line: error.line(),
            column: error.column(),
            source: Box::new(error),
        }
    }

    /// The line and column (from 1) where the parser stopped; `(0, 0)` when it does not know
    /// (an error raised by a type's own `Deserialize` after reading its value).
    #[must_use]
    pub fn position(&self) -> (usize, usize) {
        match self {
            Self::InvalidJson { line, column, .. } | Self::InvalidEvent { line, column, .. } => {
                (*line, *column)
            }
        }
    }

    /// The parser's full message, such as `invalid type: string "abc", expected u64 at line 1
    /// column 12`.
    ///
    /// It can quote the body (a value, an unknown field or variant name): keep it out of logs,
    /// metrics and responses unless the body may be shown there. `Display` is the safe text.
    #[must_use]
    pub fn detail(&self) -> String {
        match self {
            Self::InvalidJson { source, .. } | Self::InvalidEvent { source, .. } => {
                source.to_string()
            }
        }
    }
}

/// What went wrong in the JSON syntax, in words that never quote the body.
fn syntax_problem(source: &BoxError) -> &'static str {
    match source
        .downcast_ref::<serde_json::Error>()
        .map(serde_json::Error::classify)
    {
        Some(serde_json::error::Category::Eof) => "it ends before its JSON does (truncated?)",
        Some(serde_json::error::Category::Io) => "it could not be read",
        _ => "a syntax error, or bytes that are not UTF-8",
    }
}

/// What in the body does not fit the type, in words that never quote the body: the kinds of
/// serde's errors, and a field's name only where it comes from the type (missing, duplicate).
fn shape_problem(source: &BoxError) -> String {
    let message = source.to_string();
    // serde_json appends the position, which `Display` gives on its own.
    let message = message
        .rfind(" at line ")
        .map_or(message.as_str(), |at| message.get(..at).unwrap_or_default());
    for named in ["missing field `", "duplicate field `"] {
        if let Some(field) = message
            .strip_prefix(named)
            .and_then(|rest| rest.strip_suffix('`'))
            .filter(|field| is_field_name(field))
        {
            return format!("{named}{field}`");
        }
    }
    let kind = [
        ("invalid type", "a value has the wrong type"),
        ("invalid value", "a value is not one the type accepts"),
        (
            "invalid length",
            "an array or object has the wrong number of elements",
        ),
        (
            "unknown variant",
            "a value names a variant the type does not know",
        ),
        ("unknown field", "a field the type does not accept"),
    ]
    .into_iter()
    .find(|(prefix, _)| message.starts_with(prefix))
    .map_or("a value does not fit the type", |(_, kind)| kind);
    kind.to_owned()
}

/// A plausible field name of a type: short printable ASCII without spaces or backticks. The
/// check keeps a custom error message that merely looks like serde's out of the text.
fn is_field_name(field: &str) -> bool {
    !field.is_empty()
        && field.len() <= 64
        && field.bytes().all(|b| b.is_ascii_graphic() && b != b'`')
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidJson { source, .. } => {
                write!(f, "the body is not valid JSON: {}", syntax_problem(source))?
            }
            Self::InvalidEvent { source, .. } => write!(
                f,
                "the body is JSON but not a valid event: {}",
                shape_problem(source)
            )?,
        }
        match self.position() {
            (0, _) => Ok(()),
            (line, column) => write!(f, " (line {line}, column {column})"),
        }
    }
}

impl StdError for ParseError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::InvalidJson { source, .. } | Self::InvalidEvent { source, .. } => Some(&**source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::Duration;

    const MARKER: &str = "SECRET-MARKER-7f3a";

    fn error_of<T: serde::de::DeserializeOwned + fmt::Debug>(body: &str) -> ParseError {
        let error = serde_json::from_str::<T>(body).unwrap_err();
        ParseError::from_json(error, body.as_bytes())
    }

    fn shape_case<T: serde::de::DeserializeOwned + fmt::Debug>(body: &str, kind: &str) {
        let error = error_of::<T>(body);
        let shown = error.to_string();
        assert!(
            matches!(error, ParseError::InvalidEvent { .. }),
            "{error:?}"
        );
        assert!(!shown.contains(MARKER), "{shown}");
        assert!(
            shown.starts_with(&format!(
                "the body is JSON but not a valid event: {kind} (line 1, column "
            )),
            "{shown}"
        );
        // The parser's message, for the tools that ask for it, still has it all.
        assert!(error.detail().contains(MARKER), "{}", error.detail());
        assert!(
            error
                .source()
                .is_some_and(|source| source.to_string().contains(MARKER))
        );
    }

    /// serde_json quotes the body in its messages; `Display` must not, whatever the mismatch.
    #[test]
    fn display_never_quotes_the_body() {
        shape_case::<Vec<u64>>(&format!(r#"["{MARKER}"]"#), "a value has the wrong type");
        shape_case::<char>(
            &format!(r#""{MARKER}""#),
            "a value is not one the type accepts",
        );
        shape_case::<Result<u8, u8>>(
            &format!(r#"{{"{MARKER}":1}}"#),
            "a value names a variant the type does not know",
        );
        shape_case::<Duration>(
            &format!(r#"{{"secs":1,"nanos":0,"{MARKER}":0}}"#),
            "a field the type does not accept",
        );
        shape_case::<(u8, u8)>(&format!(r#"[1, "{MARKER}"]"#), "a value has the wrong type");
    }

    #[test]
    fn display_says_where_and_names_only_fields_of_the_type() {
        let error = error_of::<Duration>(r#"{"secs":1}"#);
        assert!(matches!(
            error,
            ParseError::InvalidEvent {
                line: 1,
                column: 10,
                ..
            }
        ));
        assert_eq!(error.position(), (1, 10));
        assert_eq!(
            error.to_string(),
            "the body is JSON but not a valid event: missing field `nanos` (line 1, column 10)"
        );
        let error = error_of::<(u8, u8)>("[1]");
        assert_eq!(
            error.to_string(),
            "the body is JSON but not a valid event: an array or object has the wrong number of elements (line 1, column 3)"
        );
    }

    #[test]
    fn syntax_errors_say_where_not_what() {
        let error = error_of::<serde_json::Value>(&format!("{{\"a\":\n\"{MARKER}\" x}}"));
        assert!(
            matches!(
                error,
                ParseError::InvalidJson {
                    line: 2,
                    column: 22,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "the body is not valid JSON: a syntax error, or bytes that are not UTF-8 (line 2, column 22)"
        );
        let error = error_of::<serde_json::Value>(&format!(r#"{{"a":"{MARKER}"#));
        assert!(matches!(error, ParseError::InvalidJson { .. }), "{error:?}");
        assert!(
            error.to_string().starts_with(
                "the body is not valid JSON: it ends before its JSON does (truncated?)"
            ),
            "{error}"
        );
        assert!(!error.to_string().contains(MARKER));
    }

    /// A custom message that looks like serde's but carries body text is not repeated.
    #[test]
    fn a_lookalike_field_name_with_spaces_is_not_repeated() {
        #[derive(Debug)]
        struct Custom;
        impl<'de> serde::Deserialize<'de> for Custom {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Err(serde::de::Error::custom(format!("missing field `{text}`")))
            }
        }
        let error = error_of::<Custom>(&format!(r#""a {MARKER}""#));
        assert!(
            matches!(error, ParseError::InvalidEvent { .. }),
            "{error:?}"
        );
        assert!(!error.to_string().contains(MARKER), "{error}");
        assert_eq!(
            error.to_string(),
            "the body is JSON but not a valid event: a value does not fit the type"
        );
    }
}
