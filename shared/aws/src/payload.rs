//! Event payloads as the table stores them: raw deflate (RFC 1951) when
//! that pays, the text as published otherwise.
//!
//! Why deflate: measured on a realistic 1 KB JSON event (`hookline-load
//! codec`, BENCHMARKS.md), it halves the payload — so the event item fits
//! one write unit instead of two — for tens of microseconds on one core,
//! through `flate2` on `miniz_oxide`: pure Rust, no C to cross-compile for
//! the Lambda targets, and a crate the ecosystem keeps. Measured on the
//! same event when this was chosen: zstd (level 3) was four times faster
//! but left 649 B where deflate leaves 613, and needs C; brotli (level 6)
//! left 584 B for nearly three times deflate's CPU.

use std::cell::RefCell;
use std::io::Read;

/// A payload is compressed only from this size on…
pub const COMPRESS_FROM: usize = 128;

/// …and kept compressed only when that saves a quarter of it: less would
/// not pay for the CPU of compressing and inflating it again at each read.
fn worth_storing(compressed: usize, raw: usize) -> bool {
    compressed * 4 <= raw * 3
}

/// `payload` deflated (level 6, the compressor's state reused within the
/// thread), when that pays; `None` when it should be stored as it is.
pub fn compress(payload: &str) -> Option<Vec<u8>> {
    thread_local! {
        static COMPRESS: RefCell<flate2::Compress> =
            RefCell::new(flate2::Compress::new(flate2::Compression::new(6), false));
    }
    if payload.len() < COMPRESS_FROM {
        return None;
    }
    COMPRESS.with(|c| {
        let mut c = c.borrow_mut();
        c.reset();
        // Room for what pays and no more: a larger output is not kept.
        let mut out = Vec::with_capacity(payload.len() * 3 / 4 + 1);
        match c.compress_vec(payload.as_bytes(), &mut out, flate2::FlushCompress::Finish) {
            Ok(flate2::Status::StreamEnd) if worth_storing(out.len(), payload.len()) => Some(out),
            _ => None,
        }
    })
}

/// The payload `stored` holds (inflating at most `limit` bytes), or why
/// it does not read.
pub fn decompress(stored: &[u8], limit: usize) -> Result<String, String> {
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(stored)
        .take(u64::try_from(limit).unwrap_or(u64::MAX))
        .read_to_end(&mut out)
        .map_err(|e| format!("a stored payload does not inflate: {e}"))?;
    String::from_utf8(out).map_err(|_| "a stored payload is not UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_deflate_is_refused_with_a_reason() {
        assert!(decompress(b"\xff\xff\xff not deflate", 1024).is_err());
        let z = compress(&"{\"a\":\"b\"}".repeat(40)).expect("repetitive JSON pays");
        assert_eq!(decompress(&z, 1024).unwrap(), "{\"a\":\"b\"}".repeat(40));
        assert!(decompress(&z, 10).unwrap().len() <= 10, "never inflated past the limit");
    }
}
