//! Signing against published vectors and every way a request can be wrong.

use super::*;

// The Standard Webhooks specification's published test vector.
const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SPEC_TS: i64 = 1_614_265_330;
const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

fn spec_secret() -> Secret {
    Secret::parse(SPEC_SECRET).unwrap()
}

fn spec_headers(signature: &str) -> Vec<(String, String)> {
    vec![
        ("webhook-id".into(), SPEC_ID.into()),
        ("webhook-timestamp".into(), SPEC_TS.to_string()),
        ("webhook-signature".into(), signature.into()),
    ]
}

#[test]
fn signing_reproduces_the_standard_webhooks_test_vector() {
    assert_eq!(standard::sign(&spec_secret(), SPEC_ID, SPEC_TS, SPEC_BODY).unwrap(), SPEC_SIGNATURE);
}

#[test]
fn verification_accepts_the_standard_webhooks_test_vector() {
    standard::verify(&spec_secret(), &spec_headers(SPEC_SIGNATURE), SPEC_BODY, SPEC_TS).unwrap();
}

#[test]
fn verification_finds_the_valid_signature_among_several() {
    let header = format!("v1,bm9wZQ== v1a,ignored {SPEC_SIGNATURE}");
    standard::verify(&spec_secret(), &spec_headers(&header), SPEC_BODY, SPEC_TS).unwrap();
}

#[test]
fn header_names_are_matched_in_any_case() {
    let headers: Vec<(String, String)> =
        spec_headers(SPEC_SIGNATURE).into_iter().map(|(k, v)| (k.to_uppercase(), v)).collect();
    standard::verify(&spec_secret(), &headers, SPEC_BODY, SPEC_TS).unwrap();
}

#[test]
fn a_tampered_body_is_rejected() {
    let err =
        standard::verify(&spec_secret(), &spec_headers(SPEC_SIGNATURE), br#"{"test": 2432232315}"#, SPEC_TS);
    assert_eq!(err, Err(VerifyError::NoMatch));
}

#[test]
fn a_wrong_secret_is_rejected() {
    let other = Secret::generate([5; GENERATED_SECRET_BYTES]);
    let err = standard::verify(&other, &spec_headers(SPEC_SIGNATURE), SPEC_BODY, SPEC_TS);
    assert_eq!(err, Err(VerifyError::NoMatch));
}

#[test]
fn a_changed_id_or_timestamp_breaks_the_signature() {
    let mut headers = spec_headers(SPEC_SIGNATURE);
    headers[0].1 = "msg_other".into();
    assert_eq!(standard::verify(&spec_secret(), &headers, SPEC_BODY, SPEC_TS), Err(VerifyError::NoMatch));
    let mut headers = spec_headers(SPEC_SIGNATURE);
    headers[1].1 = (SPEC_TS + 1).to_string();
    assert_eq!(standard::verify(&spec_secret(), &headers, SPEC_BODY, SPEC_TS), Err(VerifyError::NoMatch));
}

#[test]
fn stale_and_future_timestamps_are_rejected_with_their_distance() {
    let headers = spec_headers(SPEC_SIGNATURE);
    assert_eq!(
        standard::verify(&spec_secret(), &headers, SPEC_BODY, SPEC_TS + 301),
        Err(VerifyError::TooOld { age_secs: 301 })
    );
    assert_eq!(
        standard::verify(&spec_secret(), &headers, SPEC_BODY, SPEC_TS - 301),
        Err(VerifyError::TooNew { ahead_secs: 301 })
    );
    // The edges of the window are inside it.
    standard::verify(&spec_secret(), &headers, SPEC_BODY, SPEC_TS + 300).unwrap();
    standard::verify(&spec_secret(), &headers, SPEC_BODY, SPEC_TS - 300).unwrap();
}

#[test]
fn malformed_and_missing_headers_are_rejected_with_a_reason() {
    let cases: Vec<(Vec<(String, String)>, VerifyError)> = vec![
        (spec_headers(SPEC_SIGNATURE)[1..].to_vec(), VerifyError::MissingHeader("webhook-id".into())),
        (
            vec![spec_headers("")[0].clone(), spec_headers("")[2].clone()],
            VerifyError::MissingHeader("webhook-timestamp".into()),
        ),
        (spec_headers(SPEC_SIGNATURE)[..2].to_vec(), VerifyError::MissingHeader("webhook-signature".into())),
        (spec_headers("g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="), VerifyError::MalformedSignature),
        (spec_headers("v1,not base64!"), VerifyError::MalformedSignature),
        (spec_headers(""), VerifyError::MalformedSignature),
        (spec_headers("v1,"), VerifyError::NoMatch),
    ];
    for (headers, expected) in cases {
        assert_eq!(
            standard::verify(&spec_secret(), &headers, SPEC_BODY, SPEC_TS),
            Err(expected.clone()),
            "{headers:?}"
        );
    }
    for bad_ts in ["", "abc", "1614265330.5", "+1614265330", " 1614265330", "99999999999999999999"] {
        let mut headers = spec_headers(SPEC_SIGNATURE);
        headers[1].1 = bad_ts.into();
        assert_eq!(
            standard::verify(&spec_secret(), &headers, SPEC_BODY, SPEC_TS),
            Err(VerifyError::InvalidTimestamp),
            "{bad_ts:?}"
        );
    }
}

#[test]
fn during_rotation_both_secrets_sign_and_either_verifies() {
    let old = Secret::generate([1; GENERATED_SECRET_BYTES]);
    let new = Secret::generate([2; GENERATED_SECRET_BYTES]);
    let format = SignatureFormat::standard();
    let msg = Message { id: "dlv_x", timestamp: SPEC_TS, event_type: "video.encoded", body: b"{}" };
    let headers = sign_headers(&format, &[&new, &old], &msg).unwrap();
    let sig = headers.header("webhook-signature").unwrap();
    assert_eq!(sig.split(' ').count(), 2);
    for secret in [&old, &new] {
        verify(&format, secret, &headers, b"{}", SPEC_TS, 300).unwrap();
    }
    let stranger = Secret::generate([3; GENERATED_SECRET_BYTES]);
    assert_eq!(verify(&format, &stranger, &headers, b"{}", SPEC_TS, 300), Err(VerifyError::NoMatch));
}

fn hex_ts_body_format() -> SignatureFormat {
    SignatureFormat {
        signature_header: "x-transcodely-signature".into(),
        timestamp_header: Some("x-transcodely-timestamp".into()),
        id_header: Some("x-transcodely-delivery-id".into()),
        event_type_header: None,
        signed: SignedContent::parse("{timestamp}.{body}").unwrap(),
        encoding: Encoding::Hex,
        prefix: "sha256=".into(),
        key: KeyEncoding::Utf8,
        separator: None,
    }
}

#[test]
fn a_hex_format_over_timestamp_and_body_matches_an_independent_hmac() {
    // Expected value computed with Python's hmac module:
    // hmac.new(b"whsec_your_signing_secret", b'1709136942.{"event":"job.completed"}', sha256).hexdigest()
    let secret = Secret::parse("whsec_your_signing_secret").unwrap();
    let body = br#"{"event":"job.completed"}"#;
    let msg = Message { id: "dlv_1", timestamp: 1_709_136_942, event_type: "job.completed", body };
    let headers = sign_headers(&hex_ts_body_format(), &[&secret], &msg).unwrap();
    assert_eq!(
        headers.header("X-Transcodely-Signature"),
        Some("sha256=70e1ee9a7ae7aa908a6f25f291caa85b8eb4da6811ee32c08d93926ce9d735ef")
    );
    assert_eq!(headers.header("x-transcodely-timestamp"), Some("1709136942"));
    assert_eq!(headers.header("x-transcodely-delivery-id"), Some("dlv_1"));
    verify(&hex_ts_body_format(), &secret, &headers, body, 1_709_136_942, 300).unwrap();
}

#[test]
fn a_format_without_a_separator_sends_only_the_newest_signature() {
    let old = Secret::parse("old-secret-text").unwrap();
    let new = Secret::parse("new-secret-text").unwrap();
    let msg = Message { id: "dlv_1", timestamp: 1, event_type: "t", body: b"x" };
    let headers = sign_headers(&hex_ts_body_format(), &[&new, &old], &msg).unwrap();
    verify(&hex_ts_body_format(), &new, &headers, b"x", 1, 300).unwrap();
    assert_eq!(verify(&hex_ts_body_format(), &old, &headers, b"x", 1, 300), Err(VerifyError::NoMatch));
}

#[test]
fn a_whsec_format_refuses_a_secret_that_is_not_base64() {
    let secret = Secret::parse("not-a-whsec-secret").unwrap();
    assert_eq!(standard::sign(&secret, "id", 1, b""), Err(SigningError::Secret(SecretError::NotWhsec)));
}
