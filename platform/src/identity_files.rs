//! The identity files of the data directory (NODE.md §4.2): `identity/node.key` (PKCS#8 PEM of
//! the ED25519 seed) and `identity/node.pub` (OpenSSH public-key line), loaded or created once.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD, STANDARD_NO_PAD,
};
use ed25519_dalek::pkcs8::{ALGORITHM_OID, KeypairBytes, PrivateKeyInfo};
use micelio_core::identity::{Identity, KEY_LEN};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

/// The identity directory inside the data directory.
pub const IDENTITY_DIR: &str = "identity";
/// The private key file inside [`IDENTITY_DIR`].
pub const KEY_FILE: &str = "node.key";
/// The public key file inside [`IDENTITY_DIR`].
pub const PUB_FILE: &str = "node.pub";

/// DER prefix of a PKCS#8 v1 (RFC 8410) ED25519 private key holding only the 32-byte seed.
const PKCS8_SEED_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// The SSH key type name of ED25519 keys.
const SSH_ED25519: &str = "ssh-ed25519";

/// Why the identity could not be loaded or created.
#[derive(Debug)]
pub enum IdentityError {
    /// `node.key` exists but could not be read (it is never regenerated in that case).
    Read {
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The identity directory could not be created.
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A new key file could not be written.
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The OS random source failed.
    Random(String),
    /// `no PEM block found in private key`.
    NoPemBlock,
    /// `parsing private key: …`: the PEM content is not a valid PKCS#8 ED25519 key.
    Parse(String),
    /// `key is not ED25519`: a valid PKCS#8 key of another algorithm.
    NotEd25519,
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, source } => {
                write!(f, "reading private key {}: {source}", path.display())
            }
            Self::CreateDir { path, source } => {
                write!(f, "creating identity dir {}: {source}", path.display())
            }
            Self::Write { path, source } => write!(f, "writing {}: {source}", path.display()),
            Self::Random(message) => write!(f, "generating key: {message}"),
            Self::NoPemBlock => f.write_str("no PEM block found in private key"),
            Self::Parse(message) => write!(f, "parsing private key: {message}"),
            Self::NotEd25519 => f.write_str("key is not ED25519"),
        }
    }
}

impl std::error::Error for IdentityError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read { source, .. }
            | Self::CreateDir { source, .. }
            | Self::Write { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// `<data_dir>/identity/node.key`.
pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(IDENTITY_DIR).join(KEY_FILE)
}

/// `<data_dir>/identity/node.pub`.
pub fn pub_path(data_dir: &Path) -> PathBuf {
    data_dir.join(IDENTITY_DIR).join(PUB_FILE)
}

/// Loads the node identity from `<data_dir>/identity/node.key`, or creates it (NODE.md §4.2).
///
/// When `node.key` does not exist, a seed is drawn from the OS random source, `identity/` is
/// created (mode 0700 on Unix, parents included), `node.key` is written (0600; never
/// overwriting an existing file) and `node.pub` is written or overwritten (0644). When it
/// exists, its first PEM block is decoded by [`decode_private_key_pem`]; `node.pub` is not read.
///
/// # Errors
///
/// [`IdentityError::Read`] when `node.key` exists but cannot be read, the decoding errors of
/// [`decode_private_key_pem`], and creation errors for a new identity.
pub fn load_or_create(data_dir: &Path) -> Result<Identity, IdentityError> {
    let key_file = key_path(data_dir);
    match fs::read(&key_file) {
        Ok(bytes) => {
            let seed = decode_private_key_pem(&bytes)?;
            Ok(Identity::from_seed(&seed))
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let mut seed = [0u8; KEY_LEN];
            OsRng
                .try_fill_bytes(&mut seed)
                .map_err(|error| IdentityError::Random(error.to_string()))?;
            write_identity(data_dir, &seed)?;
            Ok(Identity::from_seed(&seed))
        }
        Err(source) => Err(IdentityError::Read {
            path: key_file,
            source,
        }),
    }
}

/// Writes the identity files for `seed` into a data directory: creates `identity/` (0700),
/// creates `node.key` (0600; fails if it already exists) and writes `node.pub` (0644).
///
/// # Errors
///
/// [`IdentityError::CreateDir`] or [`IdentityError::Write`].
pub fn write_identity(data_dir: &Path, seed: &[u8; KEY_LEN]) -> Result<(), IdentityError> {
    let dir = data_dir.join(IDENTITY_DIR);
    create_private_dir(&dir).map_err(|source| IdentityError::CreateDir {
        path: dir.clone(),
        source,
    })?;
    let identity = Identity::from_seed(seed);
    let key_file = dir.join(KEY_FILE);
    write_file(
        &key_file,
        encode_private_key_pem(seed).as_bytes(),
        0o600,
        true,
    )
    .map_err(|source| IdentityError::Write {
        path: key_file.clone(),
        source,
    })?;
    let pub_file = dir.join(PUB_FILE);
    write_file(
        &pub_file,
        openssh_public_line(identity.public_key()).as_bytes(),
        0o644,
        false,
    )
    .map_err(|source| IdentityError::Write {
        path: pub_file.clone(),
        source,
    })
}

/// Creates `dir` and its missing parents with mode 0700 (Unix), and sets `dir` itself to 0700.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder.create(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    {
        builder.create(dir)
    }
}

/// Writes `contents` to `path` with permissions `mode` (Unix, independent of the umask);
/// `create_new` refuses to replace an existing file.
fn write_file(path: &Path, contents: &[u8], mode: u32, create_new: bool) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true);
    if create_new {
        options.create_new(true);
    } else {
        options.create(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    let mut file: File = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    file.write_all(contents)?;
    file.sync_all()
}

/// The `node.key` content for `seed`: PEM with label `PRIVATE KEY` around the 48-byte PKCS#8 v1
/// DER of the seed alone (RFC 8410), as `openssl genpkey -algorithm ed25519` writes it. Always
/// 119 bytes.
pub fn encode_private_key_pem(seed: &[u8; KEY_LEN]) -> String {
    let mut der = Vec::with_capacity(PKCS8_SEED_PREFIX.len() + KEY_LEN);
    der.extend_from_slice(&PKCS8_SEED_PREFIX);
    der.extend_from_slice(seed);
    // 48 bytes encode to exactly one 64-character line.
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(&der)
    )
}

/// Decodes a `node.key` file: takes its first PEM block (text before it is skipped, the label is
/// not checked, Go's `encoding/pem` rules), parses the bytes as PKCS#8 and requires an ED25519
/// key. Accepts `&str` or raw bytes.
///
/// # Errors
///
/// [`IdentityError::NoPemBlock`], [`IdentityError::Parse`] or [`IdentityError::NotEd25519`].
pub fn decode_private_key_pem(pem: impl AsRef<[u8]>) -> Result<[u8; KEY_LEN], IdentityError> {
    let der = first_pem_block(pem.as_ref()).ok_or(IdentityError::NoPemBlock)?;
    let info = PrivateKeyInfo::try_from(der.as_slice())
        .map_err(|error| IdentityError::Parse(error.to_string()))?;
    if info.algorithm.oid != ALGORITHM_OID {
        return Err(IdentityError::NotEd25519);
    }
    let keypair =
        KeypairBytes::try_from(info).map_err(|error| IdentityError::Parse(error.to_string()))?;
    Ok(keypair.secret_key)
}

/// The SSH wire encoding of an ED25519 public key: string `ssh-ed25519`, string key (51 bytes).
pub fn ssh_public_blob(public_key: &[u8; KEY_LEN]) -> Vec<u8> {
    let mut blob = Vec::with_capacity(4 + SSH_ED25519.len() + 4 + KEY_LEN);
    for field in [SSH_ED25519.as_bytes(), public_key.as_slice()] {
        // Both fields are far shorter than u32::MAX.
        let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
        blob.extend_from_slice(&len.to_be_bytes());
        blob.extend_from_slice(field);
    }
    blob
}

/// The `node.pub` content: `ssh-ed25519 <base64 blob>` and a newline, no comment (81 bytes).
pub fn openssh_public_line(public_key: &[u8; KEY_LEN]) -> String {
    format!(
        "{SSH_ED25519} {}\n",
        STANDARD.encode(ssh_public_blob(public_key))
    )
}

/// The OpenSSH SHA-256 fingerprint of an ED25519 public key: `SHA256:` and the unpadded
/// base64 of SHA-256 over the SSH public-key blob.
pub fn ssh_fingerprint(public_key: &[u8; KEY_LEN]) -> String {
    let digest = Sha256::digest(ssh_public_blob(public_key));
    format!("SHA256:{}", STANDARD_NO_PAD.encode(digest))
}

// ---------------------------------------------------------------------------------------------
// PEM, following Go's encoding/pem.Decode
// ---------------------------------------------------------------------------------------------

const PEM_BEGIN: &[u8] = b"-----BEGIN ";
const PEM_END: &[u8] = b"\n-----END ";
const PEM_END_OF_LINE: &[u8] = b"-----";

/// Go's `StdEncoding` decoder: padding required, non-zero trailing bits tolerated.
const GO_STD_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn trim_end_spaces_tabs(mut line: &[u8]) -> &[u8] {
    while let Some((&last, rest)) = line.split_last() {
        if last != b' ' && last != b'\t' {
            break;
        }
        line = rest;
    }
    line
}

fn trim_ascii_space(line: &[u8]) -> &[u8] {
    line.trim_ascii()
}

/// Go's `getLine`: the first line without its `\n`/`\r\n` and trailing spaces/tabs, and the
/// rest after the newline.
fn get_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(newline) => {
            let mut end = newline;
            if end > 0 && data.get(end - 1) == Some(&b'\r') {
                end -= 1;
            }
            (
                trim_end_spaces_tabs(data.get(..end).unwrap_or_default()),
                data.get(newline + 1..).unwrap_or_default(),
            )
        }
        None => (trim_end_spaces_tabs(data), &[]),
    }
}

/// The bytes of the first well-formed PEM block in `data`, following Go's `pem.Decode`: the
/// BEGIN line may be preceded by any text, headers (`Key: value` lines) are skipped, the END
/// line must repeat the label, and malformed candidates are skipped in favour of later ones.
fn first_pem_block(data: &[u8]) -> Option<Vec<u8>> {
    let mut rest = data;
    loop {
        if let Some(after) = rest.strip_prefix(PEM_BEGIN) {
            rest = after;
        } else {
            let start = find(rest, b"\n-----BEGIN ")?;
            rest = rest.get(start + 1 + PEM_BEGIN.len()..).unwrap_or_default();
        }

        let (type_line, after_type) = get_line(rest);
        rest = after_type;
        let Some(label) = type_line.strip_suffix(PEM_END_OF_LINE) else {
            continue;
        };

        let mut has_headers = false;
        loop {
            if rest.is_empty() {
                return None;
            }
            let (line, next) = get_line(rest);
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                break;
            };
            // Go stores the header; only its presence matters here.
            let _ = (
                trim_ascii_space(line.get(..colon).unwrap_or_default()),
                trim_ascii_space(line.get(colon + 1..).unwrap_or_default()),
            );
            has_headers = true;
            rest = next;
        }

        // Without headers the END line may come first, with no leading newline.
        let (end_index, end_trailer_index) =
            if !has_headers && rest.starts_with(PEM_END.get(1..).unwrap_or_default()) {
                (0, PEM_END.len() - 1)
            } else {
                match find(rest, PEM_END) {
                    Some(index) => (index, index + PEM_END.len()),
                    None => continue,
                }
            };

        let end_trailer = rest.get(end_trailer_index..).unwrap_or_default();
        let trailer_len = label.len() + PEM_END_OF_LINE.len();
        let (Some(trailer), Some(rest_of_end_line)) = (
            end_trailer.get(..trailer_len),
            end_trailer.get(trailer_len..),
        ) else {
            continue;
        };
        if !trailer.starts_with(label) || !trailer.ends_with(PEM_END_OF_LINE) {
            continue;
        }
        // The END line must end with only whitespace.
        if !get_line(rest_of_end_line).0.is_empty() {
            continue;
        }

        let body: Vec<u8> = rest
            .get(..end_index)
            .unwrap_or_default()
            .iter()
            .copied()
            .filter(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            .collect();
        match GO_STD_BASE64.decode(&body) {
            Ok(bytes) => return Some(bytes),
            Err(_) => continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Identity A of PROTOCOL.md Appendix A: seed 00 01 … 1F.
    fn seed_a() -> [u8; KEY_LEN] {
        std::array::from_fn(|i| u8::try_from(i).unwrap_or(0))
    }

    const PEM_A: &str = "-----BEGIN PRIVATE KEY-----\n\
        MC4CAQAwBQYDK2VwBCIEIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f\n\
        -----END PRIVATE KEY-----\n";
    const PUB_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4\n";
    const NODE_ID_A: &str = "56475aa75463474c0285df5dbf2bcab73da651358839e9b77481b2eab107708c";

    fn temp_dir() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("micelio-identity-test-")
            .tempdir_in(std::env::temp_dir())
            .expect("temp dir")
    }

    #[test]
    fn reference_pem() {
        let pem = encode_private_key_pem(&seed_a());
        assert_eq!(pem, PEM_A);
        assert_eq!(pem.len(), 119);
        assert_eq!(decode_private_key_pem(PEM_A).expect("decode"), seed_a());
    }

    #[test]
    fn reference_openssh_line_and_fingerprint() {
        let identity = Identity::from_seed(&seed_a());
        assert_eq!(identity.node_id().as_str(), NODE_ID_A);
        let line = openssh_public_line(identity.public_key());
        assert_eq!(line, PUB_A);
        assert_eq!(line.len(), 81);
        assert_eq!(
            ssh_fingerprint(identity.public_key()),
            "SHA256:lbmsoA0yIEcEiVDRnMWuzm+nV+3ZEEpVIURqFoeSspg"
        );
        assert_eq!(ssh_public_blob(identity.public_key()).len(), 51);
    }

    #[test]
    fn pem_round_trips_random_seeds() {
        for fill in [0u8, 0x55, 0xff] {
            let seed = [fill; KEY_LEN];
            let pem = encode_private_key_pem(&seed);
            assert_eq!(pem.len(), 119);
            assert_eq!(decode_private_key_pem(&pem).expect("decode"), seed);
        }
    }

    #[test]
    fn pem_decoding_follows_go() {
        // Text before the block is skipped; the label is not checked.
        let with_preamble = format!("some text\nmore\n{PEM_A}");
        assert_eq!(
            decode_private_key_pem(&with_preamble).expect("preamble"),
            seed_a()
        );
        let relabelled = PEM_A.replace("PRIVATE KEY", "ED25519 KEY");
        assert_eq!(
            decode_private_key_pem(&relabelled).expect("label"),
            seed_a()
        );
        // CRLF line endings, trailing spaces, base64 split over lines, headers.
        let crlf = PEM_A.replace('\n', " \r\n");
        assert_eq!(decode_private_key_pem(&crlf).expect("crlf"), seed_a());
        let split = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAABAgMEBQYH\nCAkKCwwNDg8QERITFBUWFxgZGhscHR4f\n-----END PRIVATE KEY-----";
        assert_eq!(decode_private_key_pem(split).expect("split"), seed_a());
        let headers = "-----BEGIN PRIVATE KEY-----\nComment: test\n\nMC4CAQAwBQYDK2VwBCIEIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f\n-----END PRIVATE KEY-----\n";
        assert_eq!(decode_private_key_pem(headers).expect("headers"), seed_a());
        // A malformed first candidate (mismatched END label) is skipped.
        let two = format!("-----BEGIN A-----\nAAAA\n-----END B-----\n{PEM_A}");
        assert_eq!(
            decode_private_key_pem(&two).expect("second block"),
            seed_a()
        );
        // Raw bytes work too.
        assert_eq!(
            decode_private_key_pem(PEM_A.as_bytes()).expect("bytes"),
            seed_a()
        );
    }

    #[test]
    fn pem_decoding_errors() {
        for text in [
            "",
            "not a pem file",
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAw\n",
            "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAw\n-----END PUBLIC KEY-----\n",
            "x-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ] {
            assert!(
                matches!(decode_private_key_pem(text), Err(IdentityError::NoPemBlock)),
                "{text:?}"
            );
        }
        assert_eq!(
            IdentityError::NoPemBlock.to_string(),
            "no PEM block found in private key"
        );
        // Valid PEM, invalid PKCS#8.
        let garbage = "-----BEGIN PRIVATE KEY-----\naGVsbG8gd29ybGQ=\n-----END PRIVATE KEY-----\n";
        let error = decode_private_key_pem(garbage).expect_err("garbage");
        assert!(matches!(error, IdentityError::Parse(_)), "{error:?}");
        assert!(
            error.to_string().starts_with("parsing private key: "),
            "{error}"
        );
        // Valid PKCS#8 structure, but X25519 (1.3.101.110) instead of ED25519.
        let mut der = PKCS8_SEED_PREFIX.to_vec();
        der[11] = 0x6e;
        der.extend_from_slice(&seed_a());
        let x25519 = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(&der)
        );
        let error = decode_private_key_pem(&x25519).expect_err("x25519");
        assert!(matches!(error, IdentityError::NotEd25519), "{error:?}");
        assert_eq!(error.to_string(), "key is not ED25519");
        // ED25519 OID but a truncated key.
        let mut der = PKCS8_SEED_PREFIX.to_vec();
        der[1] = 0x2d;
        der[13] = 0x21;
        der[15] = 0x1f;
        der.extend_from_slice(&seed_a()[..31]);
        let short = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(&der)
        );
        assert!(matches!(
            decode_private_key_pem(&short),
            Err(IdentityError::Parse(_))
        ));
    }

    #[test]
    fn pem_decoding_never_panics() {
        let pieces = [
            "-----BEGIN ",
            "-----END ",
            "X",
            "-----",
            "\n",
            "\r",
            ":",
            "AAAA",
            "=",
            " ",
        ];
        // Every sequence of up to 5 pieces.
        let mut stack = vec![(String::new(), 0)];
        while let Some((text, depth)) = stack.pop() {
            let _ = decode_private_key_pem(&text);
            if depth < 5 {
                for piece in pieces {
                    stack.push((format!("{text}{piece}"), depth + 1));
                }
            }
        }
    }

    /// TESTS.md §4 (TestLoadGeneratesNewIdentity, TestLoadReadsExistingIdentity).
    #[test]
    fn generate_then_reload() {
        let dir = temp_dir();
        let data_dir = dir.path().join("data");
        let identity = load_or_create(&data_dir).expect("create");
        assert_eq!(identity.node_id().as_str().len(), 64);
        assert_eq!(
            identity.node_id(),
            micelio_core::identity::NodeId::from_public_key(identity.public_key())
        );
        let key = fs::read_to_string(key_path(&data_dir)).expect("node.key");
        assert_eq!(key.len(), 119);
        assert_eq!(
            decode_private_key_pem(&key).expect("decode"),
            identity.seed()
        );
        let public = fs::read_to_string(pub_path(&data_dir)).expect("node.pub");
        assert_eq!(public, openssh_public_line(identity.public_key()));

        let again = load_or_create(&data_dir).expect("reload");
        assert_eq!(again.node_id(), identity.node_id());
        assert_eq!(again.public_key(), identity.public_key());

        // Signing with the loaded key verifies with the loaded public key.
        let message = b"hello";
        let signature = ed25519_dalek::Signature::from_bytes(&again.sign(message));
        let verifying =
            ed25519_dalek::VerifyingKey::from_bytes(identity.public_key()).expect("key");
        assert!(verifying.verify_strict(message, &signature).is_ok());

        // A second empty directory gets another identity.
        let other = load_or_create(&dir.path().join("other")).expect("other");
        assert_ne!(other.node_id(), identity.node_id());
    }

    #[test]
    fn missing_pub_is_not_regenerated() {
        let dir = temp_dir();
        let identity = load_or_create(dir.path()).expect("create");
        fs::remove_file(pub_path(dir.path())).expect("remove");
        let again = load_or_create(dir.path()).expect("reload");
        assert_eq!(again.node_id(), identity.node_id());
        assert!(!pub_path(dir.path()).exists());
    }

    #[test]
    fn bad_key_files_fail() {
        let dir = temp_dir();
        fs::create_dir_all(dir.path().join(IDENTITY_DIR)).expect("mkdir");
        // Not PEM (TestLoadBadKeyFile).
        fs::write(key_path(dir.path()), "not a pem file").expect("write");
        assert!(matches!(
            load_or_create(dir.path()),
            Err(IdentityError::NoPemBlock)
        ));
        // PEM, not PKCS#8 (TestLoadBadPEMContent).
        fs::write(
            key_path(dir.path()),
            "-----BEGIN PRIVATE KEY-----\naGVsbG8=\n-----END PRIVATE KEY-----\n",
        )
        .expect("write");
        assert!(matches!(
            load_or_create(dir.path()),
            Err(IdentityError::Parse(_))
        ));
        // The bad file is left alone.
        assert!(
            fs::read_to_string(key_path(dir.path()))
                .expect("read")
                .contains("aGVsbG8=")
        );
    }

    #[cfg(unix)]
    #[test]
    fn file_modes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir();
        load_or_create(dir.path()).expect("create");
        let mode = |path: &Path| fs::metadata(path).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join(IDENTITY_DIR)), 0o700);
        assert_eq!(mode(&key_path(dir.path())), 0o600);
        assert_eq!(mode(&pub_path(dir.path())), 0o644);
    }

    /// TESTS.md §4 (TestLoadReadPermissionError): an unreadable key is an error, never
    /// regenerated. Skipped when running as root (permissions do not apply).
    #[cfg(unix)]
    #[test]
    fn unreadable_key_fails() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir();
        let identity = load_or_create(dir.path()).expect("create");
        let key = key_path(dir.path());
        fs::set_permissions(&key, fs::Permissions::from_mode(0o000)).expect("chmod");
        if fs::read(&key).is_ok() {
            // Running as root.
            fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).expect("chmod");
            return;
        }
        let error = load_or_create(dir.path()).expect_err("unreadable");
        assert!(matches!(error, IdentityError::Read { .. }), "{error:?}");
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(
            load_or_create(dir.path()).expect("reload").node_id(),
            identity.node_id()
        );
    }

    #[test]
    fn write_identity_refuses_to_overwrite_key() {
        let dir = temp_dir();
        write_identity(dir.path(), &seed_a()).expect("write");
        let error = write_identity(dir.path(), &[7; KEY_LEN]).expect_err("exists");
        assert!(matches!(error, IdentityError::Write { .. }), "{error:?}");
        assert_eq!(
            fs::read_to_string(key_path(dir.path())).expect("read"),
            PEM_A
        );
        assert_eq!(
            fs::read_to_string(pub_path(dir.path())).expect("read"),
            PUB_A
        );
    }
}
