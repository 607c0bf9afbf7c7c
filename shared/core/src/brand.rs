//! The platform's brand on the portal its customers see: a product name, a
//! logo (an image embedded in the configuration, served by the portal
//! itself — no request to another site) and an accent colour, checked at
//! start so that white text on it, and it as link text on white, keep the
//! contrast WCAG 2.1 AA asks of text (4.5:1).

use std::sync::Arc;

use base64::Engine;

/// The longest product name.
pub const MAX_NAME_LEN: usize = 60;
/// The largest logo, decoded. On AWS the whole of a function's environment
/// is 4 KB, so a logo there is a small SVG or PNG of 2–3 KB.
pub const MAX_LOGO_BYTES: usize = 16 * 1024;
/// The least contrast the accent must keep with white.
pub const MIN_CONTRAST: f64 = 4.5;

/// What the portal calls itself and how it looks.
#[derive(Debug, Clone, PartialEq)]
pub struct Brand {
    /// The product name, in the header and every page's title
    /// (`HOOKLINE_PORTAL_NAME`).
    pub name: String,
    /// The header's colour and the links' (`HOOKLINE_PORTAL_ACCENT`); none:
    /// the portal's own.
    pub accent: Option<Rgb>,
    /// Shown before the name (`HOOKLINE_PORTAL_LOGO`).
    pub logo: Option<Logo>,
}

impl Default for Brand {
    fn default() -> Self {
        Self { name: "Webhooks".into(), accent: None, logo: None }
    }
}

/// Why a brand setting cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadBrand(String);

/// Checks a product name: printable, 1 to [`MAX_NAME_LEN`] characters.
pub fn name(text: &str) -> Result<String, BadBrand> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_NAME_LEN || text.chars().any(char::is_control) {
        return Err(BadBrand(format!("a name of 1 to {MAX_NAME_LEN} printable characters, not {text:?}")));
    }
    Ok(text.to_owned())
}

/// A colour, `#rrggbb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// An accent from `#rrggbb`, refused if white text on it would be hard
    /// to read.
    pub fn accent(text: &str) -> Result<Self, BadBrand> {
        let text = text.trim();
        let hex = text
            .strip_prefix('#')
            .filter(|h| h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| BadBrand(format!("a colour like #0a5c36, not {text:?}")))?;
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0);
        let rgb = Self(byte(0), byte(2), byte(4));
        let contrast = rgb.contrast_with_white();
        if contrast < MIN_CONTRAST {
            return Err(BadBrand(format!(
                "{text} has a contrast of {contrast:.1}:1 with white, and the portal needs \
                 {MIN_CONTRAST}:1 (WCAG 2.1 AA) for its header and links: choose a darker colour"
            )));
        }
        Ok(rgb)
    }

    /// `#rrggbb`.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    /// The contrast ratio of this colour with white (WCAG 2.1's relative
    /// luminance).
    pub fn contrast_with_white(self) -> f64 {
        let channel = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
        };
        let l = 0.2126 * channel(self.0) + 0.7152 * channel(self.1) + 0.0722 * channel(self.2);
        1.05 / (l + 0.05)
    }
}

/// A logo: the image's bytes and its type, as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logo {
    /// The image.
    pub bytes: Arc<[u8]>,
    /// Its media type, known from its first bytes.
    pub content_type: &'static str,
}

impl Logo {
    /// A logo from its base64, bare or as a `data:` URL: a PNG, JPEG, GIF,
    /// WebP or SVG image of at most [`MAX_LOGO_BYTES`].
    pub fn parse(text: &str) -> Result<Self, BadBrand> {
        let text = text.trim();
        let (declared, b64) = match text.strip_prefix("data:") {
            Some(rest) => {
                let (kind, data) = rest
                    .split_once(";base64,")
                    .ok_or_else(|| BadBrand("a data: URL must be base64 (data:image/png;base64,…)".into()))?;
                (Some(kind), data)
            }
            None => (None, text),
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| BadBrand("the logo is not base64 (try: base64 -w0 logo.svg)".into()))?;
        if bytes.len() > MAX_LOGO_BYTES {
            return Err(BadBrand(format!("the logo is {} bytes; at most {MAX_LOGO_BYTES}", bytes.len())));
        }
        let content_type = sniff(&bytes)
            .ok_or_else(|| BadBrand("the logo is not a PNG, JPEG, GIF, WebP or SVG image".into()))?;
        if declared.is_some_and(|d| d != content_type) {
            return Err(BadBrand(format!("the data: URL says {declared:?}, the image is {content_type}")));
        }
        Ok(Self { bytes: bytes.into(), content_type })
    }
}

/// An image's type from its first bytes.
fn sniff(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    if b.starts_with(b"\xff\xd8\xff") {
        return Some("image/jpeg");
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return Some("image/gif");
    }
    if b.len() > 12 && b.starts_with(b"RIFF") && &b[8..12] == b"WEBP" {
        return Some("image/webp");
    }
    let text = std::str::from_utf8(b).ok()?.trim_start();
    (text.starts_with("<svg") || (text.starts_with("<?xml") && text.contains("<svg")))
        .then_some("image/svg+xml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accent_is_kept_only_if_white_text_on_it_is_readable() {
        // The WCAG's own anchors: black is 21:1, #767676 is the lightest
        // grey that passes on white.
        assert!((Rgb(0, 0, 0).contrast_with_white() - 21.0).abs() < 0.01);
        assert!(Rgb::accent("#767676").is_ok());
        assert!(Rgb::accent("#777777").is_err());
        assert_eq!(Rgb::accent(" #0A5C36 ").unwrap().hex(), "#0a5c36");
        let e = Rgb::accent("#ffcc00").unwrap_err().to_string();
        assert!(e.contains("1.5:1") && e.contains("4.5:1"), "{e}");
        for bad in ["0a5c36", "#0a5c3", "#0a5c3g", "red", ""] {
            assert!(Rgb::accent(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_logo_is_an_image_of_a_known_kind_within_its_size() {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>"#;
        let logo = Logo::parse(&b64(svg)).unwrap();
        assert_eq!((logo.content_type, &*logo.bytes), ("image/svg+xml", &svg[..]));
        let png = [b"\x89PNG\r\n\x1a\n".as_slice(), &[0; 8]].concat();
        let as_url = format!("data:image/png;base64,{}", b64(&png));
        assert_eq!(Logo::parse(&as_url).unwrap().content_type, "image/png");
        let mislabelled = format!("data:image/jpeg;base64,{}", b64(&png));
        assert!(Logo::parse(&mislabelled).is_err(), "the URL's type is the image's");
        assert!(Logo::parse(&b64(b"#!/bin/sh")).is_err(), "not an image");
        assert!(Logo::parse("not base64!").is_err());
        let huge = [b"GIF89a".as_slice(), &vec![0; MAX_LOGO_BYTES]].concat();
        assert!(Logo::parse(&b64(&huge)).unwrap_err().to_string().contains("at most"));
    }

    #[test]
    fn a_name_is_short_and_printable() {
        assert_eq!(name("  Acme Video  ").unwrap(), "Acme Video");
        assert!(name("").is_err());
        assert!(name(&"x".repeat(MAX_NAME_LEN + 1)).is_err());
        assert!(name("a\nb").is_err());
    }
}
