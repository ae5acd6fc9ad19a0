//! Proves that the checked-in generated code is exactly what pb-rs produces from `micelio.proto`.
//!
//! Regenerate with `MICELIO_REGENERATE_PROTO=1 cargo test -p micelio-proto --test generated_matches_schema`.

use std::path::PathBuf;

use pb_rs::ConfigBuilder;
use pb_rs::types::FileDescriptor;

fn generate_into(dir: &std::path::Path) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let schema = root.join("micelio.proto");
    let out = dir.to_path_buf();
    let configs = ConfigBuilder::new(&[schema], None, Some(&out), &[root])
        .expect("valid pb-rs configuration")
        .single_module(true)
        .dont_use_cow(true)
        .nostd(true)
        .headers(false)
        .build();
    FileDescriptor::run(&configs).expect("pb-rs generates code from micelio.proto");
    out.join("micelio.rs")
}

#[test]
fn checked_in_code_matches_schema() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let checked_in = root.join("src/generated/micelio.rs");
    let tmp = std::env::temp_dir().join(format!("micelio-proto-gen-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let generated_path = generate_into(&tmp);
    let generated = std::fs::read_to_string(&generated_path).unwrap();
    std::fs::remove_dir_all(&tmp).ok();

    if std::env::var_os("MICELIO_REGENERATE_PROTO").is_some() {
        std::fs::write(&checked_in, &generated).unwrap();
    }
    let current = std::fs::read_to_string(&checked_in).unwrap_or_default();
    assert!(
        current == generated,
        "proto/src/generated/micelio.rs is stale: rerun with MICELIO_REGENERATE_PROTO=1"
    );
}
