# Ferry: every entry point. `make run` starts a receiver; `make test` is what CI runs.
SHELL := /bin/bash
CARGO ?= cargo
FERRY_DEBUG := target/debug/ferry
FERRY_RELEASE := target/release/ferry

.PHONY: all build release run test lint test-rust test-bindings test-kotlin test-android test-android-logic test-android-checks test-ios test-swift test-interop test-discovery test-hostile-netns test-resume test-web bindings android-libs ios-xcframework setup bench demo clean help fuzz

all: build

help:
	@echo "make run           build and start a receiver into ./received (asks before accepting)"
	@echo "make test          build and run every test (unit, conformance, CLI, interop in namespaces)"
	@echo "make demo          two private network namespaces: a receiver, and a sender that finds it by name"
	@echo "make bindings      regenerate the Kotlin and Swift bindings (bindings/kotlin, bindings/swift)"
	@echo "make test-kotlin   Kotlin tests of the bindings on the JVM"
	@echo "make test-android  the Android app's logic tests (JVM), its syntax, manifest, resource and API level checks"
	@echo "                   (test-android-logic: the JVM tests only; test-android-checks: the checks only)"
	@echo "make test-web      share and receive pages in headless Chromium (installs Debian's chromium and playwright-core into .tools/ on first run)"
	@echo "make test-ios      the iOS app's Swift syntax, XcodeGen spec, plists, privacy manifests and entitlements checks"
	@echo "make test-swift    the Swift bindings and FerryKit built (Swift 6) and FerryKit's XCTests run, in a Debian 13 chroot"
	@echo "make android-libs  Android .so files into android/app/src/main/jniLibs (needs the NDK)"
	@echo "make ios-xcframework  XCFramework for the Swift package (needs macOS + Xcode)"
	@echo "make fuzz          run each fuzz target for FUZZ_SECONDS (default 30; nightly + cargo-fuzz, installed into .tools)"
	@echo "make bench         release build; throughput on loopback, written to target/bench/results.json"
	@echo "make lint          rustfmt check, clippy with warnings denied, build with the minimum Rust version"
	@echo "make build         debug build of the workspace"
	@echo "make release       release build (target/release/ferry)"

build:
	$(CARGO) build --workspace

release:
	$(CARGO) build --release -p ferry-cli

# A receiver with sensible defaults: HTTPS on port 53317, files saved into ./received,
# each transfer asked about on the terminal (pass ARGS="--yes" to accept everything).
# Ctrl+C (exit 130) is how it is stopped, not a failure for make to report.
run: release
	$(FERRY_RELEASE) receive --dir received $(ARGS) || [ $$? -eq 130 ]

# Tools the tests need that a fresh machine may lack (Debian packages, the third-party
# LocalSend peers from PyPI and npm into .tools/).
setup:
	@bash scripts/install-peers.sh

test: setup lint test-rust test-bindings test-kotlin test-android test-ios test-swift test-web test-interop test-discovery test-hostile-netns test-resume

# Includes the hostile-input suite (tests/tests/hostile.rs; it runs the ferry binary built just
# before) and the replay of the fuzz corpus and every crash found (tests/tests/fuzz_replay.rs),
# both on stable.
# Guardrails: the format (rustfmt.toml), clippy with warnings denied (workspace lints in
# Cargo.toml), and a build with exactly the declared minimum Rust version (rust-version).
MSRV := $(shell sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
lint:
	@echo "lint: rustfmt, clippy (warnings denied), build with the minimum Rust $(MSRV)"
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	@rustup run $(MSRV).0 rustc --version >/dev/null 2>&1 || { echo "lint: Rust $(MSRV).0 (the declared minimum) is not installed: rustup toolchain install $(MSRV).0"; exit 1; }
	$(CARGO) +$(MSRV).0 check --workspace --all-targets --locked

test-rust:
	@echo "test-rust: build, then every Rust test of the workspace (the longest step, several minutes)"
	$(CARGO) build --workspace --locked
	$(CARGO) test --workspace --locked

# The cargo-fuzz targets in fuzz/ for FUZZ_SECONDS each (default 30), on the nightly toolchain;
# see docs/SECURITY.md.
fuzz:
	bash scripts/fuzz.sh

# Generated bindings: `make bindings` rewrites them; `make test` fails when the committed ones
# drift from the library, and checks the C header and the Swift syntax of the Swift bindings.
bindings:
	bash scripts/bindings.sh

test-bindings:
	bash scripts/bindings.sh --check
	gcc -fsyntax-only -Wall -Werror -std=c11 bindings/tests/c/header_check.c
	bash scripts/check-swift.sh bindings/swift

# The generated Kotlin and its tests, compiled with -Werror and run on the JVM (kotlinc from
# npm and JNA from Debian, installed by scripts/install-kotlin.sh).
test-kotlin:
	bash scripts/test-kotlin.sh

# The Android app: its logic module's JUnit tests on the JVM (real nodes on loopback, the host
# library), then what can be checked without an Android SDK: every Kotlin file of android/
# through the Kotlin compiler's parser, the manifest and resources (also through Debian's aapt
# against the API 29 framework), the API level of every
# Android and Java API the app calls (declarations from npm, into .tools/android-api), the
# non-Compose Kotlin of the app type-checked by kotlinc against stubs generated from those
# declarations, and the 16 KB page check of native libraries (each checker proves first that it
# catches what it should).
test-android: test-android-logic test-android-checks

test-android-logic:
	bash scripts/test-android-logic.sh

test-android-checks:
	bash scripts/kotlin-syntax.sh --self-test >/dev/null
	bash scripts/kotlin-syntax.sh android
	python3 scripts/check-android.py --self-test >/dev/null
	python3 scripts/check-android.py android
	bash scripts/android-aapt.sh
	bash scripts/android-api-check.sh
	bash scripts/android-typecheck.sh
	python3 scripts/android-elf-align.py --self-test >/dev/null
	@if ls android/app/src/main/jniLibs/*/*.so >/dev/null 2>&1; then python3 scripts/android-elf-align.py android/app/src/main/jniLibs; fi

# The iOS app, without Xcode: every Swift file of ios/ through tree-sitter's Swift grammar, and
# the XcodeGen spec, Info.plists, privacy manifests and entitlements. (FerryKit itself is
# compiled and tested by test-swift; the SwiftUI app needs a Mac.)
test-ios:
	bash scripts/check-ios.sh

# The Swift side for real: the generated Swift bindings and FerryKit compiled in Swift 6 mode
# (complete concurrency checking) against the host-built library, and FerryKit's XCTest tests
# run (two real nodes on loopback), with Debian 13's Swift in a chroot cached in .tools/ (made
# once with debootstrap from apt's mirror), in private mount and network namespaces (root).
test-swift:
	bash scripts/swift.sh

android-libs:
	bash scripts/android-libs.sh

ios-xcframework:
	bash scripts/ios-xcframework.sh

# Interop with LocalSend implementations nobody here wrote, inside network namespaces that the
# script makes (needs root: CI has it). FERRY_SKIP_NETNS=1 skips it where that is impossible.
# Resume in network namespaces (real ferry processes; resets, kills, a full disk): see tests/resume/resume-netns.sh.
test-resume: setup
	@if [ "$${FERRY_SKIP_NETNS:-0}" = 1 ]; then echo "resume: skipped (FERRY_SKIP_NETNS=1)"; \
	elif [ "$$(id -u)" != 0 ]; then echo "resume: needs root for network namespaces (or FERRY_SKIP_NETNS=1)"; exit 1; \
	else $(CARGO) build -p ferry-cli --bin ferry && FERRY_BIN=$(FERRY_DEBUG) bash tests/resume/resume-netns.sh; fi

test-interop: setup
	@if [ "$${FERRY_SKIP_NETNS:-0}" = 1 ]; then echo "interop: skipped (FERRY_SKIP_NETNS=1)"; \
	elif [ "$$(id -u)" != 0 ]; then echo "interop: needs root for network namespaces (or FERRY_SKIP_NETNS=1)"; exit 1; \
	else FERRY_BIN=$(FERRY_DEBUG) bash tests/interop/ferry-interop.sh; fi

# Discovery across hosts (Ferry, the LocalSend peers, a hostile neighbour), in namespaces the
# script makes (root; FERRY_SKIP_NETNS=1 skips it).
test-discovery: setup
	@if [ "$${FERRY_SKIP_NETNS:-0}" = 1 ]; then echo "discovery: skipped (FERRY_SKIP_NETNS=1)"; \
	elif [ "$$(id -u)" != 0 ]; then echo "discovery: needs root for network namespaces (or FERRY_SKIP_NETNS=1)"; exit 1; \
	else FERRY_BIN=$(FERRY_DEBUG) bash tests/discovery/discovery.sh; fi

# Hostile neighbours that need real multicast between hosts: forged announcements must never
# downgrade a pinned send to plain HTTP (namespaces the script makes; root, FERRY_SKIP_NETNS=1 skips it).
# The browser pages (`ferry share`, `ferry receive --web`) in a real headless Chromium; screenshots
# go to docs/screenshots/.
test-web:
	scripts/browser.sh test

test-hostile-netns:
	@if [ "$${FERRY_SKIP_NETNS:-0}" = 1 ]; then echo "hostile-netns: skipped (FERRY_SKIP_NETNS=1)"; \
	elif [ "$$(id -u)" != 0 ]; then echo "hostile-netns: needs root for network namespaces (or FERRY_SKIP_NETNS=1)"; exit 1; \
	else FERRY_BIN=$(FERRY_DEBUG) bash tests/hostile/forged-announcement.sh; fi

# Discovery and a send by name between two private network namespaces (root).
demo: release
	bash scripts/demo.sh

bench:
	$(CARGO) build --release -p ferry-cli -p ferry-tests --bin ferry --bin ferry-raw-baseline
	python3 scripts/bench.py

clean:
	$(CARGO) clean
	rm -rf .tools
