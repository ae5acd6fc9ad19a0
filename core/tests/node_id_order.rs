//! Node ids order exactly as their strings do (the reference compares ids as strings).

use micelio_core::identity::NodeId;
use proptest::prelude::*;

fn id_from(hex_digits: &[u8]) -> NodeId {
    let text: String = hex_digits
        .iter()
        .map(|d| char::from_digit(u32::from(d % 16), 16).unwrap_or('0'))
        .collect();
    NodeId::parse(&text).expect("64 lowercase hex digits")
}

proptest! {
    #[test]
    fn order_is_string_order(
        a in proptest::collection::vec(0u8..16, 64),
        b in proptest::collection::vec(0u8..16, 64),
        shared in 0usize..=64,
    ) {
        // Ids sharing a prefix of any length, so that the tail comparison is exercised too.
        let mut b = b;
        b[..shared].copy_from_slice(&a[..shared]);
        let (x, y) = (id_from(&a), id_from(&b));
        prop_assert_eq!(x.cmp(&y), x.as_str().cmp(y.as_str()));
        prop_assert_eq!(x == y, x.as_str() == y.as_str());
    }
}
