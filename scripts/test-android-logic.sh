#!/usr/bin/env bash
# The Android app's logic module (android/logic: plain Kotlin, no Android) and its JUnit tests,
# compiled with -Werror together with the generated bindings and run on the JVM against the host
# library (target/debug/libferry_ffi.so): real nodes on 127.0.0.1, discovery off. This is what
# `./gradlew :logic:test` runs where Gradle and Maven Central are at hand.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/kotlin-env.sh"
CP="$CP:$LIBS/kotlin-test-junit.jar:/usr/share/java/junit4.jar:/usr/share/java/hamcrest.jar"
OUT="$ROOT/target/android-logic"
mapfile -t SOURCES < <(find android/logic/src/main/kotlin android/logic/src/test/kotlin -name '*.kt' | sort)
kotlin_compile "$OUT/logic-test.jar" bindings/kotlin/app/ferry/core/ferry_ffi.kt "${SOURCES[@]}"
TESTS=$(cd android/logic/src/test/kotlin && grep -l "@Test" -r . | sed 's|^\./||; s|\.kt$||; s|/|.|g')
timeout 600 java -Djna.library.path="$TARGET_DIR/debug" -Djava.io.tmpdir="${TMPDIR:-/tmp}" \
    -cp "$OUT/logic-test.jar:$CP:$LIBS/kotlin-stdlib.jar" org.junit.runner.JUnitCore $TESTS
