//! Address syntax (spec Appendix B): Go's `net.SplitHostPort`, the invalid-peer-address test
//! and the wildcard-host test used for the advertised address (spec §12.6).
//!
//! Everything here is pure string inspection: no name resolution and no IP parsing, exactly as
//! the reference does it.

use core::fmt;

/// Longest address, in bytes, that [`is_invalid_peer_addr`] accepts.
///
/// This bound is ours, not the reference's: it keeps records and PeerExchange entries small. 255
/// is enough for a maximal DNS name (253 bytes) with a port, and for any bracketed IPv6 literal
/// with a zone and a port.
pub const MAX_ADDR_LEN: usize = 255;

/// Why [`split_host_port`] rejected an address. The [`fmt::Display`] texts are Go's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddrError {
    /// There is no `:` at all, or a bracketed host is not followed by `:` (`missing port in
    /// address`).
    MissingPort,
    /// An unbracketed host contains a `:`, or `]` is followed by `:` that is not the last one
    /// (`too many colons in address`).
    TooManyColons,
    /// The address starts with `[` and has no `]` (`missing ']' in address`).
    MissingCloseBracket,
    /// A `[` appears anywhere but as the first character (`unexpected '[' in address`).
    UnexpectedOpenBracket,
    /// A `]` appears in an unbracketed address, or after the one closing the host
    /// (`unexpected ']' in address`).
    UnexpectedCloseBracket,
}

impl fmt::Display for AddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MissingPort => "missing port in address",
            Self::TooManyColons => "too many colons in address",
            Self::MissingCloseBracket => "missing ']' in address",
            Self::UnexpectedOpenBracket => "unexpected '[' in address",
            Self::UnexpectedCloseBracket => "unexpected ']' in address",
        })
    }
}

impl core::error::Error for AddrError {}

/// Splits `host:port`, `[host]:port` or `[host%zone]:port` into host and port, with the
/// semantics of Go's `net.SplitHostPort` (spec Appendix B).
///
/// The brackets are removed from the host. The host and the port may be empty (`:4000`,
/// `host:`) and the port is not checked to be numeric (`host:abc` is accepted).
///
/// # Errors
///
/// The [`AddrError`] Go would report, checked in Go's order.
pub fn split_host_port(addr: &str) -> Result<(&str, &str), AddrError> {
    // The port starts after the last colon.
    let last_colon = addr.rfind(':').ok_or(AddrError::MissingPort)?;
    // Positions before which a '[' resp. ']' is allowed (Go's `j` and `k`).
    let (host, open_from, close_from) = if addr.starts_with('[') {
        // Expect the first ']' just before the last ':'.
        let close = addr.find(']').ok_or(AddrError::MissingCloseBracket)?;
        let after_close = close.saturating_add(1);
        if after_close == addr.len() {
            // Nothing, so no ':', after the ']'.
            return Err(AddrError::MissingPort);
        }
        if after_close != last_colon {
            // ']' is followed either by something other than ':', or by a ':' that is not the
            // last one.
            return Err(
                if addr.get(after_close..).is_some_and(|s| s.starts_with(':')) {
                    AddrError::TooManyColons
                } else {
                    AddrError::MissingPort
                },
            );
        }
        // '[' and ']' are ASCII, so these are character boundaries.
        let host = addr.get(1..close).unwrap_or_default();
        (host, 1, after_close)
    } else {
        let host = addr.get(..last_colon).unwrap_or_default();
        if host.contains(':') {
            return Err(AddrError::TooManyColons);
        }
        (host, 0, 0)
    };
    if addr.get(open_from..).is_some_and(|s| s.contains('[')) {
        return Err(AddrError::UnexpectedOpenBracket);
    }
    if addr.get(close_from..).is_some_and(|s| s.contains(']')) {
        return Err(AddrError::UnexpectedCloseBracket);
    }
    let port = addr.get(last_colon.saturating_add(1)..).unwrap_or_default();
    Ok((host, port))
}

/// True when `host` (as returned by [`split_host_port`]) is `0.0.0.0`, `::` or empty: the
/// hosts a node never advertises (spec §12.6).
///
/// The comparison is on the exact text: other spellings of the unspecified address, such as
/// `0:0:0:0:0:0:0:0`, are not caught.
pub fn is_wildcard_host(host: &str) -> bool {
    matches!(host, "0.0.0.0" | "::" | "")
}

/// True when `addr` must not be stored or propagated as a peer's address (spec Appendix B):
/// it does not split into host and port, the port is empty, or the host is empty, `0.0.0.0` or
/// `::` (exact text comparison).
///
/// Also true, by our own bound, for an address longer than [`MAX_ADDR_LEN`] bytes.
pub fn is_invalid_peer_addr(addr: &str) -> bool {
    if addr.len() > MAX_ADDR_LEN {
        return true;
    }
    match split_host_port(addr) {
        Ok((host, port)) => port.is_empty() || is_wildcard_host(host),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::{String, ToString};

    use super::*;

    #[test]
    fn appendix_b_examples() {
        assert_eq!(split_host_port("127.0.0.1"), Err(AddrError::MissingPort));
        assert_eq!(split_host_port(":4000"), Ok(("", "4000")));
        assert_eq!(split_host_port("[::]:4000"), Ok(("::", "4000")));
        assert_eq!(split_host_port("::1:80"), Err(AddrError::TooManyColons));
        assert_eq!(split_host_port("[::1]:80"), Ok(("::1", "80")));
        assert_eq!(
            split_host_port("[fe80::1%eth0]:80"),
            Ok(("fe80::1%eth0", "80"))
        );
        assert_eq!(split_host_port("host:abc"), Ok(("host", "abc")));
        assert_eq!(split_host_port("host:"), Ok(("host", "")));
    }

    #[test]
    fn split_ordinary_addresses() {
        assert_eq!(split_host_port("10.0.0.1:4000"), Ok(("10.0.0.1", "4000")));
        assert_eq!(
            split_host_port("example.com:4000"),
            Ok(("example.com", "4000"))
        );
        assert_eq!(split_host_port("0.0.0.0:9000"), Ok(("0.0.0.0", "9000")));
        assert_eq!(split_host_port(":"), Ok(("", "")));
        assert_eq!(split_host_port("[]:80"), Ok(("", "80")));
        assert_eq!(split_host_port("[]:"), Ok(("", "")));
        assert_eq!(split_host_port("[host]:80"), Ok(("host", "80")));
        assert_eq!(split_host_port("héllo:80"), Ok(("héllo", "80")));
        assert_eq!(split_host_port("h:ü"), Ok(("h", "ü")));
    }

    #[test]
    fn split_errors_follow_go() {
        assert_eq!(split_host_port(""), Err(AddrError::MissingPort));
        assert_eq!(split_host_port("just-a-host"), Err(AddrError::MissingPort));
        assert_eq!(split_host_port("a:b:c"), Err(AddrError::TooManyColons));
        assert_eq!(split_host_port("[::1"), Err(AddrError::MissingCloseBracket));
        assert_eq!(
            split_host_port("[::1:80"),
            Err(AddrError::MissingCloseBracket)
        );
        // ']' ends the string: no port.
        assert_eq!(split_host_port("[::1]"), Err(AddrError::MissingPort));
        // ']' followed by something other than ':'.
        assert_eq!(split_host_port("[::1]x:80"), Err(AddrError::MissingPort));
        assert_eq!(split_host_port("[a]b:80"), Err(AddrError::MissingPort));
        // ']' followed by a ':' that is not the last one.
        assert_eq!(
            split_host_port("[::1]:80:90"),
            Err(AddrError::TooManyColons)
        );
        // Stray brackets.
        assert_eq!(
            split_host_port("[a[b]:80"),
            Err(AddrError::UnexpectedOpenBracket)
        );
        assert_eq!(
            split_host_port("[a]:8[0"),
            Err(AddrError::UnexpectedOpenBracket)
        );
        assert_eq!(
            split_host_port("[a]:8]0"),
            Err(AddrError::UnexpectedCloseBracket)
        );
        assert_eq!(
            split_host_port("a[b:80"),
            Err(AddrError::UnexpectedOpenBracket)
        );
        assert_eq!(
            split_host_port("a]b:80"),
            Err(AddrError::UnexpectedCloseBracket)
        );
        assert_eq!(
            split_host_port("host:8]"),
            Err(AddrError::UnexpectedCloseBracket)
        );
        // Go checks colons before brackets in the unbracketed form.
        assert_eq!(split_host_port("a[:b:80"), Err(AddrError::TooManyColons));
        // A bracket that is not first does not start the bracketed form.
        assert_eq!(split_host_port("x[::1]:80"), Err(AddrError::TooManyColons));
        // '[' alone with a colon.
        assert_eq!(split_host_port("[:"), Err(AddrError::MissingCloseBracket));
        assert_eq!(
            split_host_port("]:"),
            Err(AddrError::UnexpectedCloseBracket)
        );
    }

    /// The failure table of Go's own `net` tests (`ipsock_test.go`), and its success cases.
    #[test]
    fn go_test_table() {
        use AddrError::*;
        let failures = [
            ("www.google.com", MissingPort),
            ("127.0.0.1", MissingPort),
            ("[::1]", MissingPort),
            ("[fe80::1%lo0]", MissingPort),
            ("[localhost%lo0]", MissingPort),
            ("localhost%lo0", MissingPort),
            ("::1", TooManyColons),
            ("fe80::1%lo0", TooManyColons),
            ("fe80::1%lo0:80", TooManyColons),
            ("[foo:bar]", MissingPort),
            ("[foo:bar]baz", MissingPort),
            ("[foo]bar:baz", MissingPort),
            ("[foo]:[bar]:baz", TooManyColons),
            ("[foo]:[bar]baz", UnexpectedOpenBracket),
            ("foo[bar]:baz", UnexpectedOpenBracket),
            ("foo]bar:baz", UnexpectedCloseBracket),
        ];
        for (addr, err) in failures {
            assert_eq!(split_host_port(addr), Err(err), "{addr}");
        }
        let successes = [
            ("localhost:http", "localhost", "http"),
            ("localhost%lo0:80", "localhost%lo0", "80"),
            ("[localhost%lo0]:http", "localhost%lo0", "http"),
            ("127.0.0.1:80", "127.0.0.1", "80"),
            ("[::1]:http", "::1", "http"),
            ("[fe80::1%lo0]:80", "fe80::1%lo0", "80"),
            ("[::ffff:127.0.0.1]:80", "::ffff:127.0.0.1", "80"),
            (":0", "", "0"),
            ("[]:0", "", "0"),
        ];
        for (addr, host, port) in successes {
            assert_eq!(split_host_port(addr), Ok((host, port)), "{addr}");
        }
    }

    #[test]
    fn error_texts_are_gos() {
        assert_eq!(
            AddrError::MissingPort.to_string(),
            "missing port in address"
        );
        assert_eq!(
            AddrError::TooManyColons.to_string(),
            "too many colons in address"
        );
        assert_eq!(
            AddrError::MissingCloseBracket.to_string(),
            "missing ']' in address"
        );
        assert_eq!(
            AddrError::UnexpectedOpenBracket.to_string(),
            "unexpected '[' in address"
        );
        assert_eq!(
            AddrError::UnexpectedCloseBracket.to_string(),
            "unexpected ']' in address"
        );
    }

    /// TESTS.md §11, TestIsInvalidPeerAddr.
    #[test]
    fn invalid_peer_addr_reference_cases() {
        for addr in [
            "0.0.0.0:4000",
            "[::]:4000",
            ":4000",
            "not-a-hostport",
            "just-a-host",
        ] {
            assert!(is_invalid_peer_addr(addr), "{addr} should be invalid");
        }
        for addr in ["10.0.0.1:4000", "127.0.0.1:4000", "example.com:4000"] {
            assert!(!is_invalid_peer_addr(addr), "{addr} should be valid");
        }
    }

    #[test]
    fn invalid_peer_addr_other_cases() {
        // Empty address, empty port, empty bracketed host.
        assert!(is_invalid_peer_addr(""));
        assert!(is_invalid_peer_addr("host:"));
        assert!(is_invalid_peer_addr("[]:4000"));
        assert!(is_invalid_peer_addr("::1:80"));
        // Exact comparison only: other spellings of the unspecified address pass.
        assert!(!is_invalid_peer_addr("[0:0:0:0:0:0:0:0]:4000"));
        assert!(!is_invalid_peer_addr("0:4000"));
        // Bracketed IPv6 and non-numeric ports are fine here.
        assert!(!is_invalid_peer_addr("[::1]:80"));
        assert!(!is_invalid_peer_addr("[fe80::1%eth0]:80"));
        assert!(!is_invalid_peer_addr("host:abc"));
    }

    #[test]
    fn invalid_peer_addr_length_bound() {
        let port = ":4000";
        let mut at_limit = "a".repeat(MAX_ADDR_LEN - port.len());
        at_limit.push_str(port);
        assert_eq!(at_limit.len(), MAX_ADDR_LEN);
        assert!(!is_invalid_peer_addr(&at_limit));

        let mut over: String = "a".repeat(MAX_ADDR_LEN + 1 - port.len());
        over.push_str(port);
        assert_eq!(over.len(), MAX_ADDR_LEN + 1);
        assert!(is_invalid_peer_addr(&over));
        // split_host_port itself has no length bound.
        assert!(split_host_port(&over).is_ok());
    }

    #[test]
    fn wildcard_hosts() {
        assert!(is_wildcard_host("0.0.0.0"));
        assert!(is_wildcard_host("::"));
        assert!(is_wildcard_host(""));
        assert!(!is_wildcard_host("127.0.0.1"));
        assert!(!is_wildcard_host("[::]"));
        assert!(!is_wildcard_host("0:0:0:0:0:0:0:0"));
        assert!(!is_wildcard_host("localhost"));
    }

    /// TESTS.md §9 (TestAdvertiseAddr), the bound-address part of spec §12.6.
    #[test]
    fn bound_address_advertising() {
        let advertisable =
            |bound: &str| split_host_port(bound).is_ok_and(|(host, _)| !is_wildcard_host(host));
        assert!(advertisable("127.0.0.1:9000"));
        assert!(!advertisable("0.0.0.0:9000"));
        assert!(!advertisable("[::]:9000"));
        assert!(!advertisable(":9000"));
        assert!(!advertisable("garbage"));
    }

    #[test]
    fn never_panics_on_odd_input() {
        let alphabet = ['[', ']', ':', 'a', '%', 'é', '0'];
        // Every string of up to 5 characters over the alphabet.
        let mut stack: alloc::vec::Vec<String> = alloc::vec![String::new()];
        while let Some(s) = stack.pop() {
            let split = split_host_port(&s);
            if let Ok((host, port)) = split {
                // Host and port are sub-slices, and the port is what follows the last colon.
                assert!(s.ends_with(port));
                assert!(s.contains(host));
                assert!(!port.contains(':'));
            }
            let _ = is_invalid_peer_addr(&s);
            if s.chars().count() < 5 {
                for c in alphabet {
                    let mut next = s.clone();
                    next.push(c);
                    stack.push(next);
                }
            }
        }
    }
}
