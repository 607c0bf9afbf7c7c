//! The payloads the cost harness publishes: a realistic JSON event (what a
//! platform sends: nested objects, ids, timestamps, amounts, text) and an
//! incompressible one (printable noise), each exactly the size asked for.

use anyhow::bail;
use serde_json::value::RawValue;

/// What a payload looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An order-shipped event: the shape most webhooks have.
    Realistic,
    /// Characters no compressor can shrink by much (91 printable symbols,
    /// about 6.5 bits of 8 each).
    Incompressible,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Realistic => "realistic JSON",
            Kind::Incompressible => "incompressible",
        }
    }
}

/// A small, seeded generator (xorshift64*): the same payloads every run.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn hex(&mut self, len: usize) -> String {
        (0..len).map(|_| char::from(b"0123456789abcdef"[self.below(16) as usize])).collect()
    }
}

const SENTENCES: [&str; 8] = [
    "Left at the front door as requested.",
    "The customer asked for the parcel to be left with the concierge if nobody answers.",
    "Gift wrapping applied; the receipt is not included in the box.",
    "Ships from the Rotterdam warehouse, second dispatch wave of the day.",
    "One item was substituted with the same product in a different colour.",
    "Signature required on delivery because of the order's value.",
    "Carrier estimated arrival within two working days.",
    "Return label printed and included.",
];

/// Event `n`'s payload of `kind`, exactly `bytes` long as JSON text (at
/// least the smallest such event: ~600 bytes realistic, ~40 incompressible).
pub fn payload(kind: Kind, n: usize, bytes: usize) -> anyhow::Result<Box<RawValue>> {
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15 ^ (n as u64).wrapping_mul(0x1000_0000_01b3));
    let mut value = match kind {
        Kind::Realistic => realistic(&mut noise, n),
        Kind::Incompressible => serde_json::json!({ "id": format!("blob_{n:08x}"), "data": "" }),
    };
    let field = if kind == Kind::Realistic { "note" } else { "data" };
    let bare = serde_json::to_string(&value)?.len();
    if bare > bytes {
        bail!("a {} payload takes at least {bare} bytes; {bytes} asked", kind.name());
    }
    let fill = bytes - bare;
    value[field] = match kind {
        Kind::Realistic => {
            let mut text = String::new();
            while text.len() < fill {
                text.push_str(SENTENCES[noise.below(SENTENCES.len() as u64) as usize]);
                text.push(' ');
            }
            text.truncate(fill);
            text
        }
        Kind::Incompressible => {
            // '#'..='~' without '\\' (no escaping): 91 symbols.
            let symbols: Vec<u8> = (b'#'..=b'~').filter(|&c| c != b'\\').collect();
            (0..fill).map(|_| char::from(symbols[noise.below(symbols.len() as u64) as usize])).collect()
        }
    }
    .into();
    let text = serde_json::to_string(&value)?;
    debug_assert_eq!(text.len(), bytes);
    Ok(RawValue::from_string(text)?)
}

fn realistic(noise: &mut Noise, n: usize) -> serde_json::Value {
    let second = 1_893_456_000 + n as u64 * 7;
    let at = |offset: u64| {
        let ms = ((n as u64 + offset) * 37) % 1000;
        chrono::DateTime::from_timestamp((second + offset) as i64, (ms * 1_000_000) as u32)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default()
    };
    let items: Vec<_> = (0..1 + noise.below(3))
        .map(|i| {
            let name = ["Merino wool sweater, navy", "Canvas tote bag", "Leather card holder"][i as usize];
            serde_json::json!({
                "sku": format!("SKU-{:05}", noise.below(100_000)),
                "name": name,
                "quantity": 1 + noise.below(3),
                "unit_price": 999 + noise.below(20_000),
            })
        })
        .collect();
    serde_json::json!({
        "id": format!("evt_{}", noise.hex(24)),
        "type": "order.shipped",
        "created_at": at(0),
        "data": {
            "order": {
                "id": format!("ord_{}", noise.hex(16)),
                "number": format!("R-{:07}", 1_000_000 + n),
                "status": "shipped",
                "placed_at": at(0).replace(":00.", ":01."),
                "shipped_at": at(3_600),
                "currency": "EUR",
                "total": { "amount": 2_999 + noise.below(50_000), "tax": noise.below(5_000) },
                "customer": {
                    "id": format!("cus_{}", noise.hex(14)),
                    "email": format!("jane.doe+{n}@example.com"),
                    "name": "Jane Doe",
                    "locale": "en-GB",
                },
                "shipping": {
                    "carrier": "DHL",
                    "service": "express",
                    "tracking_number": format!("JD014600{:010}", noise.below(10_000_000_000)),
                    "address": {
                        "line1": "12 Harbour Street", "city": "Bristol", "postcode": "BS1 4RN", "country": "GB",
                    },
                },
                "items": items,
            },
        },
        "note": "",
    })
}

/// `hookline-load codec`: what storing payloads compressed costs and saves
/// (`hookline_aws::payload`): for each payload kind and size, the stored
/// bytes and the median time to compress and to inflate, on one core.
pub fn codec() -> anyhow::Result<()> {
    use std::time::Instant;
    println!(
        "payload                 stored     compress   inflate   (median of 2,000, one core, release build)"
    );
    for kind in [Kind::Realistic, Kind::Incompressible] {
        for bytes in [1024, 4096, 16_384] {
            let texts: Vec<Box<RawValue>> =
                (0..100).map(|n| payload(kind, n, bytes)).collect::<Result<_, _>>()?;
            let mut stored = 0;
            let (mut packing, mut unpacking) = (Vec::new(), Vec::new());
            for round in 0..20 {
                for text in &texts {
                    let t = Instant::now();
                    let z = hookline_aws::payload::compress(text.get());
                    packing.push(t.elapsed());
                    let Some(z) = z else { continue };
                    let t = Instant::now();
                    let back =
                        hookline_aws::payload::decompress(&z, 400 * 1024).map_err(anyhow::Error::msg)?;
                    unpacking.push(t.elapsed());
                    if back != text.get() {
                        bail!("a {} payload did not come back as it was", kind.name());
                    }
                    if round == 0 {
                        stored += z.len();
                    }
                }
            }
            let median = |v: &mut Vec<std::time::Duration>| {
                v.sort();
                v.get(v.len() / 2).map_or("-".to_owned(), |d| format!("{:.1} µs", d.as_secs_f64() * 1e6))
            };
            let kept = if unpacking.is_empty() { bytes } else { stored / texts.len() };
            println!(
                "{:<15} {bytes:>6} B  {kept:>6} B {:>10} {:>10}{}",
                kind.name(),
                median(&mut packing),
                median(&mut unpacking),
                if unpacking.is_empty() { "   (kept as sent: it does not pay)" } else { "" }
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_payload_is_exactly_the_size_asked_and_repeats() {
        for kind in [Kind::Realistic, Kind::Incompressible] {
            for n in 0..20 {
                let p = payload(kind, n, 1024).unwrap();
                assert_eq!(p.get().len(), 1024, "{kind:?} {n}");
                assert_eq!(p.get(), payload(kind, n, 1024).unwrap().get());
                serde_json::from_str::<serde_json::Value>(p.get()).unwrap();
            }
        }
        assert!(payload(Kind::Realistic, 0, 100).is_err(), "smaller than the event's fields");
    }

    #[test]
    fn the_realistic_payload_compresses_and_the_noise_does_not() {
        use std::io::Write;
        let deflated = |text: &str| {
            let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
            z.write_all(text.as_bytes()).unwrap();
            z.finish().unwrap().len()
        };
        let real = deflated(payload(Kind::Realistic, 3, 1024).unwrap().get());
        let noise = deflated(payload(Kind::Incompressible, 3, 1024).unwrap().get());
        assert!(real < 700, "realistic JSON deflates to {real} B");
        assert!(noise > 800, "noise deflates to {noise} B");
    }
}
