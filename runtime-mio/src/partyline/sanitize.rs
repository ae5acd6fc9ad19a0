//! Making untrusted text safe to print on a user's terminal.
//!
//! Chat lines from the network (and nicknames, which users choose freely) reach the terminals of
//! local partyline users. The reference prints them unchanged (NODE.md §5.5 **\[QUIRK\]**,
//! PROTOCOL.md appendix item 13), so a remote user can clear screens, retitle windows, rewrite
//! earlier lines or spoof text direction. [`sanitize`] removes everything that can do that and
//! keeps ordinary text (accents, CJK, emoji) untouched. A displayed chat line is one line, so
//! line breaks are removed too.
//!
//! Removed:
//!
//! * every C0 control (U+0000–U+001F, including TAB, CR and LF), DEL (U+007F) and every C1
//!   control (U+0080–U+009F);
//! * whole escape sequences, not just their introducer: CSI (`ESC [ … final`), OSC
//!   (`ESC ] … BEL` or `… ST`), the string sequences DCS, SOS, PM and APC (`ESC P`, `ESC X`,
//!   `ESC ^`, `ESC _`, up to ST), `ESC` followed by intermediates and a final, two-character
//!   `ESC x`, and the same sequences introduced by the 8-bit C1 forms (U+009B CSI, U+009D OSC,
//!   U+0090 DCS, U+0098 SOS, U+009E PM, U+009F APC);
//! * bidirectional formatting characters: ALM (U+061C), LRM and RLM (U+200E, U+200F), the
//!   embeddings and overrides (U+202A–U+202E) and the isolates (U+2066–U+2069);
//! * invisible characters that serve spoofing more than text: soft hyphen (U+00AD), the Hangul
//!   fillers (U+115F, U+1160, U+3164, U+FFA0), the Mongolian vowel separator (U+180E), zero
//!   width space (U+200B), the line and paragraph separators (U+2028, U+2029), word joiner and
//!   invisible operators (U+2060–U+2064), the deprecated format characters (U+206A–U+206F), the
//!   byte order mark (U+FEFF), the interlinear annotation characters (U+FFF9–U+FFFB) and the
//!   tag characters (U+E0000–U+E007F; the rare subdivision flags then show as a plain black
//!   flag).
//!
//! Kept on purpose: ZWNJ and ZWJ (U+200C, U+200D: needed by Persian and Indic scripts and by
//! emoji sequences) and the variation selectors (emoji presentation, ideographic variants).

/// Whether `c` is never allowed in text shown to a user (see the module documentation).
///
/// The output of [`sanitize`] contains none of these characters. The line editor uses the same
/// test to refuse such characters typed by a local user.
pub fn is_forbidden(c: char) -> bool {
    matches!(
        c,
        '\u{0000}'..='\u{001F}'
            | '\u{007F}'..='\u{009F}'
            | '\u{00AD}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

/// Where the scanner is inside an escape sequence.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Ordinary text.
    Text,
    /// Right after `ESC`.
    Escape,
    /// After `ESC` and one or more intermediates (U+0020–U+002F), waiting for the final.
    Intermediate,
    /// Inside a CSI sequence, waiting for its final (U+0040–U+007E).
    Csi,
    /// Inside an OSC, DCS, SOS, PM or APC string, waiting for BEL or ST.
    String,
    /// Inside such a string, right after an `ESC` (which may start ST, `ESC \`).
    StringEscape,
}

/// Returns `input` without control characters, escape sequences, bidirectional formatting and
/// dangerous invisible characters (see the module documentation); everything else is kept in
/// order.
///
/// The result never contains a character for which [`is_forbidden`] holds, so applying
/// `sanitize` twice gives the same result as applying it once. An unterminated escape sequence
/// swallows the rest of the input (a terminal would do the same with what follows).
pub fn sanitize(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut state = State::Text;
    for c in input.chars() {
        state = match state {
            State::Text => text(c, &mut out),
            State::Escape => match c {
                '[' => State::Csi,
                ']' | 'P' | 'X' | '^' | '_' => State::String,
                '\u{20}'..='\u{2F}' => State::Intermediate,
                // A two-character sequence (`ESC 7`, `ESC c`, `ESC M`, …): both are dropped.
                '\u{30}'..='\u{7E}' => State::Text,
                // Anything else ends the sequence and is handled as text.
                _ => text(c, &mut out),
            },
            State::Intermediate => match c {
                '\u{20}'..='\u{2F}' => State::Intermediate,
                '\u{30}'..='\u{7E}' => State::Text,
                _ => text(c, &mut out),
            },
            State::Csi => match c {
                // Parameters and intermediates.
                '\u{20}'..='\u{3F}' => State::Csi,
                // The final character.
                '\u{40}'..='\u{7E}' => State::Text,
                // A terminal aborts the sequence; the character is handled as text.
                _ => text(c, &mut out),
            },
            State::String => match c {
                '\u{07}' | '\u{9C}' => State::Text,
                '\u{1B}' => State::StringEscape,
                _ => State::String,
            },
            State::StringEscape => match c {
                '\\' => State::Text,
                '\u{1B}' => State::StringEscape,
                _ => State::String,
            },
        };
    }
    out
}

/// Handles `c` in ordinary text: starts a sequence, drops it, or appends it to `out`.
fn text(c: char, out: &mut String) -> State {
    match c {
        '\u{1B}' => State::Escape,
        '\u{9B}' => State::Csi,
        '\u{9D}' | '\u{90}' | '\u{98}' | '\u{9E}' | '\u{9F}' => State::String,
        c if is_forbidden(c) => State::Text,
        c => {
            out.push(c);
            State::Text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ordinary_text_is_unchanged() {
        for s in [
            "",
            "hello there",
            "  spaces  kept  ",
            "héllo wörld, ça va? ñ",
            "日本語のテキスト 中文 한국어",
            "emoji 🎉👍🏽 👨\u{200D}👩\u{200D}👧 ❤\u{FE0F}",
            "Ελληνικά Русский עברית العربية",
            "symbols: ~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./",
            "فارسی\u{200C}ها",
        ] {
            assert_eq!(sanitize(s), s, "{s:?}");
        }
    }

    #[test]
    fn clear_screen_csi_is_removed_entirely() {
        assert_eq!(sanitize("\x1b[2Jgotcha"), "gotcha");
        assert_eq!(sanitize("a\x1b[1;31mred\x1b[0mb"), "aredb");
        assert_eq!(sanitize("\x1b[?1049h\x1b[H"), "");
        assert_eq!(sanitize("x\x1b[38;5;196my"), "xy");
    }

    #[test]
    fn osc_title_change_is_removed_entirely() {
        assert_eq!(sanitize("\x1b]0;title\x07after"), "after");
        assert_eq!(sanitize("\x1b]2;pwned\x1b\\after"), "after");
        assert_eq!(
            sanitize("\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\"),
            "link"
        );
        assert_eq!(sanitize("\u{9d}0;t\u{9c}ok"), "ok");
        // Unterminated: the rest is swallowed.
        assert_eq!(sanitize("ok\x1b]0;never ends"), "ok");
    }

    #[test]
    fn c1_csi_is_removed_entirely() {
        assert_eq!(sanitize("\u{9b}31mred"), "red");
        assert_eq!(sanitize("\u{9b}2J"), "");
        assert_eq!(sanitize("a\u{85}b\u{80}c\u{9f}"), "abc");
    }

    #[test]
    fn string_sequences_are_removed_entirely() {
        assert_eq!(sanitize("\x1bPq#0;2;0;0;0\x1b\\x"), "x");
        assert_eq!(sanitize("\x1b_apc\x1b\\x"), "x");
        assert_eq!(sanitize("\x1b^pm\x07x"), "x");
        assert_eq!(sanitize("\x1bXsos\u{9c}x"), "x");
        assert_eq!(sanitize("\u{90}dcs\x1b\\x"), "x");
        // An ESC inside a string that does not form ST does not end it.
        assert_eq!(sanitize("\x1b]0;a\x1bb\x07x"), "x");
    }

    #[test]
    fn two_character_and_intermediate_escapes_are_removed() {
        assert_eq!(sanitize("a\x1bcb"), "ab"); // RIS (full reset)
        assert_eq!(sanitize("a\x1b7b\x1b8c"), "abc"); // save / restore cursor
        assert_eq!(sanitize("a\x1b(0b"), "ab"); // line drawing charset
        assert_eq!(sanitize("a\x1b#8b"), "ab"); // DECALN
        assert_eq!(sanitize("a\x1b"), "a");
        assert_eq!(sanitize("\x1b\x1b[2Jx"), "x");
        // ESC before non-ASCII text: only the ESC goes.
        assert_eq!(sanitize("\x1bé"), "é");
    }

    #[test]
    fn aborted_csi_keeps_following_text() {
        assert_eq!(sanitize("\x1b[12\nabc"), "abc");
        assert_eq!(sanitize("\x1b[12ébc"), "ébc");
        assert_eq!(sanitize("\x1b[1\x1b[2Jz"), "z");
    }

    #[test]
    fn carriage_return_and_line_injection_are_removed() {
        assert_eq!(sanitize("innocent\rEVIL"), "innocentEVIL");
        assert_eq!(
            sanitize("hi\n[alice] send me your key"),
            "hi[alice] send me your key"
        );
        assert_eq!(sanitize("a\r\nb"), "ab");
        assert_eq!(sanitize("a\u{2028}b\u{2029}c\u{85}d"), "abcd");
        assert_eq!(sanitize("back\x08\x08\x08\x08XXXX"), "backXXXX");
    }

    #[test]
    fn nul_and_other_controls_are_removed() {
        assert_eq!(sanitize("a\0b"), "ab");
        assert_eq!(sanitize("\x07bell\x7f\ttab\x0bv\x0cf"), "belltabvf");
        assert_eq!(sanitize("\x0e\x0fshift"), "shift");
    }

    #[test]
    fn bidi_controls_are_removed() {
        assert_eq!(sanitize("user\u{202E}gpj.exe"), "usergpj.exe");
        assert_eq!(sanitize("\u{2066}a\u{2067}b\u{2068}c\u{2069}"), "abc");
        assert_eq!(sanitize("\u{202A}\u{202B}\u{202C}\u{202D}x"), "x");
        assert_eq!(sanitize("\u{200E}\u{200F}\u{061C}x"), "x");
    }

    #[test]
    fn invisible_characters_are_removed() {
        assert_eq!(sanitize("ali\u{200B}ce"), "alice");
        assert_eq!(sanitize("\u{FEFF}alice\u{2060}"), "alice");
        assert_eq!(sanitize("\u{3164}\u{115F}\u{1160}\u{FFA0}"), "");
        assert_eq!(sanitize("so\u{AD}ft"), "soft");
        assert_eq!(sanitize("hi\u{E0041}\u{E0042}\u{E007F}"), "hi");
    }

    #[test]
    fn forbidden_classes() {
        for c in [
            '\0', '\x1b', '\x7f', '\u{80}', '\u{9f}', '\u{202e}', '\u{2066}', '\u{2069}',
        ] {
            assert!(is_forbidden(c), "{c:?}");
        }
        for c in [
            ' ', 'a', '~', '\u{a0}', 'é', '日', '🎉', '\u{200D}', '\u{FE0F}',
        ] {
            assert!(!is_forbidden(c), "{c:?}");
        }
    }

    /// Strings rich in the characters that matter here.
    fn hostile() -> impl Strategy<Value = String> {
        let pieces = prop_oneof![
            Just("\x1b".to_string()),
            Just("\u{9b}".to_string()),
            Just("\u{9d}".to_string()),
            Just("\u{9c}".to_string()),
            Just("\x07".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            Just("\\".to_string()),
            Just("\r\n".to_string()),
            Just("\u{202E}".to_string()),
            Just("\u{2066}".to_string()),
            Just("é日🎉".to_string()),
            "[\\x00-\\x7f]{0,4}",
            "[\\u{80}-\\u{9f}]",
            any::<char>().prop_map(String::from),
        ];
        proptest::collection::vec(pieces, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn output_never_contains_forbidden_characters(s in hostile()) {
            let out = sanitize(&s);
            prop_assert!(!out.chars().any(is_forbidden), "{:?} -> {:?}", s, out);
            prop_assert_eq!(sanitize(&out), out.clone());
        }

        #[test]
        fn arbitrary_strings_are_made_safe(s in any::<String>()) {
            let out = sanitize(&s);
            prop_assert!(!out.chars().any(is_forbidden));
            // The output is a subsequence of the input.
            let mut rest = s.chars();
            prop_assert!(out.chars().all(|c| rest.any(|d| d == c)));
        }

        #[test]
        fn safe_strings_are_unchanged(s in any::<String>()) {
            let safe: String = s.chars().filter(|&c| !is_forbidden(c)).collect();
            prop_assert_eq!(sanitize(&safe), safe);
        }
    }
}
