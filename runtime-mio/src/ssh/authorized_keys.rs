//! `<data_dir>/authorized_keys` (NODE.md §4.3): the SSH keys allowed to log in.
//!
//! The file is read once at start-up, in OpenSSH authorized-keys format and with the lenient
//! rules of Go's `ssh.ParseAuthorizedKey`: blank lines and `#` comments are skipped, lines that
//! cannot be parsed are skipped, and leading key options (`from=…`, `command="…"`, …) are accepted
//! but not enforced. A key is identified by its SSH public-key blob; a login is accepted iff the
//! client's key has the same blob as a loaded key.

use std::collections::BTreeSet;
use std::path::Path;

use base64::Engine as _;
use russh::keys::PublicKey;

/// The public-key blobs loaded from an authorized-keys file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthorizedKeys {
    blobs: BTreeSet<Vec<u8>>,
}

impl AuthorizedKeys {
    /// Reads `path`. A missing, unreadable or keyless file gives an empty set and the WARN
    /// `no authorized keys loaded` (every login will be refused).
    pub fn load(path: &Path) -> Self {
        let keys = match std::fs::read(path) {
            Ok(bytes) => Self::parse(&String::from_utf8_lossy(&bytes)),
            Err(error) => {
                tracing::debug!(path = %path.display(), %error, component = "ssh", "reading authorized keys");
                Self::default()
            }
        };
        if keys.is_empty() {
            tracing::warn!(path = %path.display(), component = "ssh", "no authorized keys loaded");
        }
        keys
    }

    /// Parses authorized-keys text; unusable lines are skipped.
    pub fn parse(text: &str) -> Self {
        AuthorizedKeys {
            blobs: text.lines().filter_map(parse_line).collect(),
        }
    }

    /// Number of distinct keys.
    pub fn len(&self) -> usize {
        self.blobs.len()
    }

    /// Whether no key was loaded.
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// Whether `key` is one of the loaded keys (same public-key blob).
    pub fn contains(&self, key: &PublicKey) -> bool {
        key.to_bytes().is_ok_and(|blob| self.blobs.contains(&blob))
    }
}

/// The key blob of one line, or `None` for a blank, comment or unparsable line.
///
/// As Go's parser: the line is `[options] keytype base64 [comment]`; the key type field is not
/// compared with the type inside the blob. Options are separated from the key type by the first
/// space or tab outside double quotes.
fn parse_line(line: &str) -> Option<Vec<u8>> {
    let line = line.split('\r').next().unwrap_or_default().trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (_, after_type) = split_field(line)?;
    if let Some(blob) = parse_key(after_type) {
        return Some(blob);
    }
    // No key at the start: maybe there is an options field first.
    let mut in_quote = false;
    let mut previous = None;
    let mut options_end = None;
    for (i, c) in line.char_indices() {
        if !in_quote && (c == ' ' || c == '\t') {
            options_end = Some(i);
            break;
        }
        if c == '"' && previous != Some('\\') {
            in_quote = !in_quote;
        }
        previous = Some(c);
    }
    let rest = line[options_end?..].trim_start_matches([' ', '\t']);
    let (_, after_type) = split_field(rest)?;
    parse_key(after_type)
}

/// Splits off the first field (up to the first space or tab); `None` if there is no second one.
fn split_field(text: &str) -> Option<(&str, &str)> {
    let i = text.find([' ', '\t'])?;
    Some((&text[..i], &text[i..]))
}

/// `base64 [comment]` → the decoded blob, if it is a public key.
fn parse_key(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    let encoded = text.split([' ', '\t']).next()?;
    let blob = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    PublicKey::from_bytes(&blob).ok()?;
    Some(blob)
}

#[cfg(test)]
mod tests {
    use super::*;
    use micelio_platform::identity_files::openssh_public_line;

    const KEY_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";

    fn key(line: &str) -> PublicKey {
        PublicKey::from_openssh(line).expect("test key")
    }

    #[test]
    fn plain_lines_comments_and_garbage() {
        let other = openssh_public_line(&[7u8; 32]);
        let text = format!(
            "# comment\n\n   \n{KEY_A} alice@host\nnot a key at all\nssh-ed25519 !!!!\n{}\r\n",
            other.trim()
        );
        let keys = AuthorizedKeys::parse(&text);
        assert_eq!(keys.len(), 2);
        assert!(keys.contains(&key(KEY_A)));
        assert!(keys.contains(&key(other.trim())));
        assert!(!keys.contains(&key(openssh_public_line(&[9u8; 32]).trim())));
    }

    #[test]
    fn options_are_accepted_including_quoted_spaces() {
        let text = format!(
            "from=\"10.0.0.1\",command=\"echo hi there\",no-pty {KEY_A} c\nrestrict\t{KEY_A}\n"
        );
        let keys = AuthorizedKeys::parse(&text);
        assert_eq!(keys.len(), 1);
        assert!(keys.contains(&key(KEY_A)));
        // An unmatched quote makes the whole line unusable.
        assert!(AuthorizedKeys::parse(&format!("command=\"x {KEY_A}")).is_empty());
    }

    #[test]
    fn missing_file_is_empty() {
        let keys = AuthorizedKeys::load(Path::new("/nonexistent/micelio/authorized_keys"));
        assert!(keys.is_empty());
    }
}
