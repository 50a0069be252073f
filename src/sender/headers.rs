//! Which names the signed headers go under: [`HeaderStyle`] (`webhook-*`, `svix-*` or both),
//! its parsing from text, and the headers of one attempt in a style.

use std::fmt;
use std::str::FromStr;

/// Which names the signed headers go under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeaderStyle {
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature` (Standard Webhooks).
    #[default]
    Webhook,
    /// `svix-id`, `svix-timestamp`, `svix-signature` (as Svix sends them).
    Svix,
    /// Both sets, with the same values (as the Amps platform sends them).
    Both,
}

impl HeaderStyle {
    /// The style's name: `webhook`, `svix` or `both`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Svix => "svix",
            Self::Both => "both",
        }
    }
}

/// The error of parsing a [`HeaderStyle`] from text other than `webhook`, `svix` or `both`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownHeaderStyle(pub String);

impl fmt::Display for UnknownHeaderStyle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown header style {:?}: expected webhook, svix or both",
            self.0
        )
    }
}

impl std::error::Error for UnknownHeaderStyle {}

impl FromStr for HeaderStyle {
    type Err = UnknownHeaderStyle;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "webhook" => Ok(Self::Webhook),
            "svix" => Ok(Self::Svix),
            "both" => Ok(Self::Both),
            other => Err(UnknownHeaderStyle(other.to_owned())),
        }
    }
}

/// The signed headers of one attempt under `style`.
pub(crate) fn styled_headers(
    signed: &crate::SignedHeaders,
    style: HeaderStyle,
) -> Vec<(&'static str, String)> {
    let own = |pairs: [(&'static str, &str); 3]| {
        pairs
            .into_iter()
            .map(|(name, value)| (name, value.to_owned()))
            .collect::<Vec<_>>()
    };
    match style {
        HeaderStyle::Webhook => own(signed.webhook_headers()),
        HeaderStyle::Svix => own(signed.svix_headers()),
        HeaderStyle::Both => {
            let mut headers = own(signed.webhook_headers());
            headers.extend(own(signed.svix_headers()));
            headers
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_styles_parse() {
        assert_eq!("both".parse::<HeaderStyle>(), Ok(HeaderStyle::Both));
        assert_eq!(
            "Svix".parse::<HeaderStyle>(),
            Err(UnknownHeaderStyle("Svix".into()))
        );
    }
}
