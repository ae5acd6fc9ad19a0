//! The identity files of NODE.md §4.2 written exactly as the reference writes them, and the
//! configuration loading path of NODE.md §2, through the public API only.

use std::fs;
use std::path::Path;

use micelio_platform::config::{Config, parse_args};
use micelio_platform::identity_files::{
    decode_private_key_pem, encode_private_key_pem, key_path, load_or_create, openssh_public_line,
    pub_path, ssh_fingerprint,
};

/// `node.key` of identity A (seed 00 01 … 1F), as printed in NODE.md §4.2.
const REFERENCE_KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f
-----END PRIVATE KEY-----
";
/// `node.pub` of identity A.
const REFERENCE_PUB: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4\n";
const REFERENCE_NODE_ID: &str = "56475aa75463474c0285df5dbf2bcab73da651358839e9b77481b2eab107708c";
const REFERENCE_FINGERPRINT: &str = "SHA256:lbmsoA0yIEcEiVDRnMWuzm+nV+3ZEEpVIURqFoeSspg";

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("micelio-reference-files-")
        .tempdir_in(std::env::temp_dir())
        .expect("temp dir")
}

fn seed_a() -> [u8; 32] {
    std::array::from_fn(|i| u8::try_from(i).unwrap_or(0))
}

fn write_reference_dir(data_dir: &Path) {
    fs::create_dir_all(data_dir.join("identity")).expect("mkdir");
    fs::write(key_path(data_dir), REFERENCE_KEY).expect("node.key");
    fs::write(pub_path(data_dir), REFERENCE_PUB).expect("node.pub");
}

#[test]
fn reference_data_dir_yields_reference_identity() {
    let dir = temp_dir();
    write_reference_dir(dir.path());
    let identity = load_or_create(dir.path()).expect("load");
    assert_eq!(identity.node_id().as_str(), REFERENCE_NODE_ID);
    assert_eq!(identity.seed(), seed_a());
    assert_eq!(
        ssh_fingerprint(identity.public_key()),
        REFERENCE_FINGERPRINT
    );
    // Loading leaves the files untouched.
    assert_eq!(
        fs::read_to_string(key_path(dir.path())).expect("read"),
        REFERENCE_KEY
    );
    assert_eq!(
        fs::read_to_string(pub_path(dir.path())).expect("read"),
        REFERENCE_PUB
    );
}

#[test]
fn reference_key_without_pub_loads() {
    let dir = temp_dir();
    fs::create_dir_all(dir.path().join("identity")).expect("mkdir");
    fs::write(key_path(dir.path()), REFERENCE_KEY).expect("node.key");
    let identity = load_or_create(dir.path()).expect("load");
    assert_eq!(identity.node_id().as_str(), REFERENCE_NODE_ID);
    assert!(!pub_path(dir.path()).exists());
}

#[test]
fn openssl_style_key_with_preamble_loads() {
    let dir = temp_dir();
    fs::create_dir_all(dir.path().join("identity")).expect("mkdir");
    fs::write(
        key_path(dir.path()),
        format!("Key for node A\r\n{}", REFERENCE_KEY.replace('\n', "\r\n")),
    )
    .expect("node.key");
    let identity = load_or_create(dir.path()).expect("load");
    assert_eq!(identity.node_id().as_str(), REFERENCE_NODE_ID);
}

#[test]
fn encoders_reproduce_reference_files() {
    let seed = seed_a();
    assert_eq!(encode_private_key_pem(&seed), REFERENCE_KEY);
    assert_eq!(decode_private_key_pem(REFERENCE_KEY).expect("decode"), seed);
    let identity = micelio_core::identity::Identity::from_seed(&seed);
    assert_eq!(openssh_public_line(identity.public_key()), REFERENCE_PUB);
    assert_eq!(REFERENCE_KEY.len(), 119);
    assert_eq!(REFERENCE_PUB.len(), 81);
}

#[test]
fn generated_files_have_reference_shape() {
    let dir = temp_dir();
    let identity = load_or_create(dir.path()).expect("create");
    let key = fs::read_to_string(key_path(dir.path())).expect("node.key");
    let lines: Vec<&str> = key.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], "-----BEGIN PRIVATE KEY-----");
    assert!(lines[1].starts_with("MC4CAQAwBQYDK2VwBCIEI"), "{key}");
    assert_eq!(lines[1].len(), 64);
    assert_eq!(lines[2], "-----END PRIVATE KEY-----");
    let public = fs::read_to_string(pub_path(dir.path())).expect("node.pub");
    assert!(public.starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"));
    assert_eq!(public.len(), 81);
    assert_eq!(public, openssh_public_line(identity.public_key()));
}

/// NODE.md §2 steps 1–5 with a config file, flags and the environment value.
#[test]
fn startup_configuration_sequence() {
    let dir = temp_dir();
    let path = dir.path().join("node.toml");
    fs::write(
        &path,
        "[node]\nname = \"file-name\"\n[network]\nlisten = \"0.0.0.0:4000\"\nmax_peers = 3\n",
    )
    .expect("write");
    let args: Vec<String> = [
        "-config",
        path.to_str().expect("utf-8 path"),
        "-name",
        "",
        "--data-dir=/srv/micelio",
        "-bootstrap",
        "seed.example:4000",
        "run",
        "-ignored",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let overrides = parse_args(&args).expect("flags");
    let mut config = Config::load(overrides.config_path()).expect("load");
    config.apply_overrides(&overrides);
    config.apply_env_log_level(Some("warning"));
    assert_eq!(config.validate(), Ok(()));
    assert_eq!(config.node.name, "file-name");
    assert_eq!(config.node.data_dir, "/srv/micelio");
    assert_eq!(config.network.bootstrap, ["seed.example:4000"]);
    assert_eq!(config.logging.level, "warning");
    let node = config.to_node_config(
        micelio_platform::config::advertised_addr(
            &config.network.advertise_addr,
            Some("0.0.0.0:4000".parse().expect("addr")),
        ),
        true,
    );
    assert_eq!(node.max_peers, 3);
    assert_eq!(node.advertised_addr, "");
    assert!(node.listening);
}
