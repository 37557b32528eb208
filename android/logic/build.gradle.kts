// The app's logic: plain Kotlin/JVM, no Android. It compiles the generated bindings from
// bindings/kotlin in place (a source set, not a copy). JNA is compileOnly here: the app brings
// the Android build (@aar, with libjnidispatch.so), the tests the JVM one.
plugins {
    alias(libs.plugins.kotlin.jvm)
}

kotlin {
    jvmToolchain(17)
    sourceSets["main"].kotlin.srcDir("../../bindings/kotlin")
}

dependencies {
    api(libs.kotlinx.coroutines.core)
    compileOnly(libs.jna)
    testImplementation(libs.jna)
    testImplementation(libs.kotlin.test.junit)
    testImplementation(libs.junit)
}

// The tests load the host build of libferry_ffi (cargo build -p ferry-ffi, from the repository root).
tasks.test {
    systemProperty("jna.library.path", rootProject.projectDir.resolve("../target/debug").absolutePath)
}
