//! Turns the IANA special-purpose address registries (`iana/*.csv`, the
//! registries' own downloads) into the target guard's table, so the guard
//! refuses what the registries say and no list is typed by hand.

// A build script reports a failure by panicking: cargo prints it.
#![allow(clippy::expect_used)]

use std::fmt::Write as _;
use std::net::IpAddr;

fn main() {
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let mut table = String::from("&[\n");
    for file in ["iana/iana-ipv4-special-registry.csv", "iana/iana-ipv6-special-registry.csv"] {
        println!("cargo::rerun-if-changed={file}");
        let mut csv = csv::Reader::from_path(file).unwrap_or_else(|e| panic!("{file}: {e}"));
        let headers = csv.headers().unwrap_or_else(|e| panic!("{file}: {e}")).clone();
        let column = |name: &str| {
            headers.iter().position(|h| h == name).unwrap_or_else(|| panic!("{file}: no column {name:?}"))
        };
        let (block, name, rfc, reachable) =
            (column("Address Block"), column("Name"), column("RFC"), column("Globally Reachable"));
        for row in csv.records() {
            let row = row.unwrap_or_else(|e| panic!("{file}: {e}"));
            // Footnote marks ("False [1]", "2002::/16 [3]") are not part of a value.
            let cell = |i: usize| row.get(i).unwrap_or("").split(" [").next().unwrap_or("").trim().to_owned();
            let reachable = cell(reachable) == "True";
            let name = row.get(name).unwrap_or("").trim().trim_matches('"');
            let rfc = row.get(rfc).unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ");
            // A cell may hold several blocks: "192.0.0.170/32, 192.0.0.171/32".
            for net in row.get(block).unwrap_or("").split(',') {
                let net = net.split(" [").next().unwrap_or("").trim();
                let (addr, len) = net.split_once('/').unwrap_or_else(|| panic!("{file}: {net:?}"));
                let addr: IpAddr = addr.parse().unwrap_or_else(|e| panic!("{file}: {net:?}: {e}"));
                let len: u8 = len.parse().unwrap_or_else(|e| panic!("{file}: {net:?}: {e}"));
                let (v6, bits) = match addr {
                    IpAddr::V4(a) => (false, u128::from(u32::from(a))),
                    IpAddr::V6(a) => (true, u128::from(a)),
                };
                let label = format!("{name} ({net}, {rfc})");
                writeln!(
                    table,
                    "    Special {{ v6: {v6}, bits: {bits:#x}, len: {len}, block: {net:?}, label: {label:?}, \
                     reachable: {reachable} }},"
                )
                .expect("writing to a String");
            }
        }
    }
    table.push(']');
    std::fs::write(format!("{out}/iana_special.rs"), table).expect("writing the guard's table");
}
