#!/usr/bin/env bash
# RUSTC_WRAPPER for fuzz builds (set by .ci/fuzz and fuzz/long_run.sh): compiles the pure
# cryptography dependencies without coverage instrumentation, debug assertions or overflow
# checks, and everything else exactly as cargo-fuzz asks.
#
# Why: with debug assertions on, curve25519-dalek checks its limb bounds on every field
# multiplication, and coverage tracing of those comparisons took over half of the run time
# of the targets that do handshakes. These crates are not what is fuzzed, and their internal
# branches would only add noise to the coverage feedback. Sanitizer flags are left untouched.
set -euo pipefail
rustc=$1
shift
crate=
prev=
for arg in "$@"; do
  [[ $prev == --crate-name ]] && crate=$arg
  prev=$arg
done
case $crate in
  curve25519_dalek | ed25519_dalek | x25519_dalek | sha2 | blake2 | chacha20 | chacha20poly1305 | poly1305 | universal_hash)
    args=()
    for arg in "$@"; do
      case $arg in
        -Cpasses=sancov-module | -Cllvm-args=-sanitizer-coverage-*) ;;
        *) args+=("$arg") ;;
      esac
    done
    exec "$rustc" "${args[@]}" -Cdebug-assertions=off -Coverflow-checks=off
    ;;
esac
exec "$rustc" "$@"
