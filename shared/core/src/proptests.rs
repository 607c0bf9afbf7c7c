//! Property tests over arbitrary input: parsing requests, checking URLs and
//! names, and verifying signatures never panic, and nothing verifies unless
//! it was signed with the secret.

use chrono::Utc;
use proptest::prelude::*;

use crate::api::events::PublishEventRequest;
use crate::api::subscriptions::{CreateSubscriptionRequest, UpdateSubscriptionRequest};
use crate::guard::TargetGuard;
use crate::model::{EventType, EventTypePattern, SubscriptionId, TenantId};
use crate::policy::RetrySchedule;
use crate::signing::{
    GENERATED_SECRET_BYTES, Message, Secret, SignatureFormat, SignedContent, sign_headers, standard, verify,
};
use crate::target::{CustomHeaders, TargetUrl};

fn config() -> ProptestConfig {
    ProptestConfig { cases: 512, ..ProptestConfig::default() }
}

/// JSON-ish text: often valid, often almost valid.
fn jsonish() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "\\{(\"[a-z_]{1,12}\":(\"[^\"]{0,20}\"|[0-9-]{1,6}|true|null|\\[\\]|\\{\\}),?){0,8}\\}",
        Just(r#"{"tenant":"t","url":"https://example.com/"}"#.to_owned()),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn request_bodies_never_panic(body in jsonish(), other in jsonish()) {
        let now = Utc::now();
        if let Ok(req) = serde_json::from_str::<CreateSubscriptionRequest>(&body)
            && let Ok(sub) = req.into_subscription(SubscriptionId::generate(now, [0; 10]), now, Secret::generate([1; GENERATED_SECRET_BYTES]))
            && let Ok(patch) = serde_json::from_str::<UpdateSubscriptionRequest>(&other)
        {
            let _ = patch.apply(&sub, now);
        }
        if let Ok(req) = serde_json::from_str::<PublishEventRequest>(&body) {
            let _ = req.validate(Some(&other));
        }
    }

    #[test]
    fn urls_names_and_schedules_never_panic(s in any::<String>(), t in "[ -~]{0,80}") {
        for candidate in [&s, &t, &format!("http://{t}/"), &format!("https://{t}:8443/x")] {
            if let Ok(url) = TargetUrl::parse(candidate) {
                let _ = TargetGuard::default().check_url(&url);
                let _ = TargetGuard { allow_loopback: true, https_only: true, allowed_ports: Some(vec![443]) }.check_url(&url);
            }
            let _ = EventType::parse(candidate);
            let _ = EventTypePattern::parse(candidate);
            let _ = TenantId::parse(candidate);
            let _ = RetrySchedule::parse_list(candidate);
            let _ = SignedContent::parse(candidate);
            let _ = Secret::parse(candidate);
        }
    }

    #[test]
    fn header_maps_never_panic_and_never_pass_control_characters(pairs in proptest::collection::btree_map(any::<String>(), any::<String>(), 0..24)) {
        if let Ok(h) = CustomHeaders::new(pairs.clone()) {
            for (k, v) in h.iter() {
                prop_assert!(!k.is_empty() && k.bytes().all(|b| b.is_ascii_graphic()));
                prop_assert!(!v.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0));
            }
        }
    }

    #[test]
    fn a_signed_request_verifies_and_any_change_breaks_it(
        key in any::<[u8; GENERATED_SECRET_BYTES]>(),
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        id in "[a-z0-9_]{1,30}",
        ts in 1_000_000_000i64..4_000_000_000,
        flip in any::<prop::sample::Index>(),
    ) {
        let secret = Secret::generate(key);
        let sig = standard::sign(&secret, &id, ts, &body).expect("sign");
        let headers: Vec<(String, String)> = vec![
            ("webhook-id".into(), id.clone()),
            ("webhook-timestamp".into(), ts.to_string()),
            ("webhook-signature".into(), sig),
        ];
        prop_assert!(standard::verify(&secret, &headers, &body, ts).is_ok());
        if !body.is_empty() {
            let mut tampered = body.clone();
            let i = flip.index(tampered.len());
            tampered[i] ^= 0x01;
            prop_assert!(standard::verify(&secret, &headers, &tampered, ts).is_err());
        }
        let other = Secret::generate(key.map(|b| b.wrapping_add(1)));
        prop_assert!(standard::verify(&other, &headers, &body, ts).is_err());
    }

    #[test]
    fn arbitrary_headers_never_verify(
        headers in proptest::collection::vec(("[a-zA-Z-]{1,24}", any::<String>()), 0..6),
        sig in any::<String>(),
        ts in any::<String>(),
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let secret = Secret::generate([9; GENERATED_SECRET_BYTES]);
        let mut all: Vec<(String, String)> = headers;
        all.push(("webhook-id".into(), "msg_1".into()));
        all.push(("webhook-timestamp".into(), ts));
        all.push(("webhook-signature".into(), sig));
        for format in [SignatureFormat::standard(), crate::presets::get("transcodely").expect("preset").signature.clone()] {
            prop_assert!(verify(&format, &secret, &all, &body, 1_700_000_000, 300).is_err());
        }
    }

    #[test]
    fn every_preset_signs_what_it_verifies(body in proptest::collection::vec(any::<u8>(), 0..512), text_key in "[!-~]{8,40}") {
        let ts = 1_700_000_000;
        for p in crate::presets::all() {
            let secret = match p.signature.key {
                crate::signing::KeyEncoding::WhsecBase64 => Secret::generate([3; GENERATED_SECRET_BYTES]),
                crate::signing::KeyEncoding::Utf8 => Secret::parse(&text_key).expect("printable"),
            };
            let msg = Message { id: "dlv_x", timestamp: ts, event_type: "video.created", body: &body };
            let headers = sign_headers(&p.signature, &[&secret], &msg).expect("sign");
            prop_assert!(verify(&p.signature, &secret, &headers, &body, ts, 300).is_ok(), "{}", p.name);
        }
    }
}
