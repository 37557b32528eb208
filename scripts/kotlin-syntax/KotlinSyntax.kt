// Kotlin syntax check with the Kotlin compiler's own parser (PSI), no semantic analysis: each
// file is parsed as kotlinc parses it, and every PsiErrorElement (plus a nameless `fun` declared
// in a file or class body, which parses and is rejected by kotlinc right after) is printed as
// `path:line:col: message`. Unresolved references and type errors are never reported.
//
//     java -cp kotlin-syntax.jar:kotlin-compiler.jar:kotlin-stdlib.jar... \
//         app.ferry.tools.KotlinSyntaxKt FILE_OR_DIR...
//
// Exit status: 0 when every file parses, 1 when any has a syntax error, 2 on bad usage.
// The compiler marks the environment API it exposes to tools as internal/experimental: opted in.
@file:OptIn(
    org.jetbrains.kotlin.CoreEnvironmentDeprecation::class,
    org.jetbrains.kotlin.config.CompilerConfiguration.Internals::class,
    org.jetbrains.kotlin.config.MessageCollectorAccess::class,
    org.jetbrains.kotlin.compiler.plugin.ExperimentalCompilerApi::class,
)

package app.ferry.tools

import com.intellij.openapi.diagnostic.DefaultLogger
import com.intellij.openapi.diagnostic.Logger
import com.intellij.openapi.util.Disposer
import com.intellij.openapi.util.text.StringUtil
import com.intellij.psi.PsiElement
import com.intellij.psi.PsiErrorElement
import com.intellij.psi.PsiRecursiveElementWalkingVisitor
import org.jetbrains.kotlin.cli.common.messages.MessageCollector
import org.jetbrains.kotlin.cli.extensionsStorage
import org.jetbrains.kotlin.cli.jvm.compiler.EnvironmentConfigFiles
import org.jetbrains.kotlin.cli.jvm.compiler.KotlinCoreEnvironment
import org.jetbrains.kotlin.compiler.plugin.CompilerPluginRegistrar
import org.jetbrains.kotlin.config.CommonConfigurationKeys
import org.jetbrains.kotlin.config.CompilerConfiguration
import org.jetbrains.kotlin.psi.KtClassBody
import org.jetbrains.kotlin.psi.KtFile
import org.jetbrains.kotlin.psi.KtNamedFunction
import org.jetbrains.kotlin.psi.KtPsiFactory
import java.io.File
import kotlin.system.exitProcess

/** The IntelliJ platform logs warnings (and errors as exceptions) to stderr; keep it silent. */
class QuietLoggerFactory : Logger.Factory {
    override fun getLoggerInstance(category: String): Logger = object : DefaultLogger(category) {
        override fun warn(message: String?, t: Throwable?) {}
        override fun error(message: String?, t: Throwable?, vararg details: String) {}
        override fun info(message: String?) {}
        override fun info(message: String?, t: Throwable?) {}
        override fun debug(message: String?) {}
        override fun debug(t: Throwable?) {}
        override fun debug(message: String?, t: Throwable?) {}
    }
}

data class SyntaxError(val offset: Int, val message: String)

fun syntaxErrors(root: PsiElement): List<SyntaxError> {
    val errors = mutableListOf<SyntaxError>()
    root.accept(object : PsiRecursiveElementWalkingVisitor() {
        override fun visitErrorElement(element: PsiErrorElement) {
            errors += SyntaxError(element.textRange.startOffset, element.errorDescription)
            super.visitErrorElement(element)
        }

        override fun visitElement(element: PsiElement) {
            // `fun (x: Int) = x` parses (as an anonymous function) wherever an expression may
            // stand; as a declaration of a file or a class, kotlinc rejects it right after parsing.
            if (element is KtNamedFunction && element.nameIdentifier == null &&
                (element.parent is KtFile || element.parent is KtClassBody)
            ) {
                errors += SyntaxError(element.textRange.startOffset, "Function declaration must have a name")
            }
            super.visitElement(element)
        }
    })
    return errors.sortedBy { it.offset }
}

/** 1-based line and column (in UTF-16 units, as the compiler counts) of [offset] in [text]. */
fun lineCol(text: String, offset: Int): Pair<Int, Int> {
    var line = 1
    var lineStart = 0
    for (i in 0 until minOf(offset, text.length)) {
        if (text[i] == '\n') {
            line++
            lineStart = i + 1
        }
    }
    return line to (offset - lineStart + 1)
}

fun collect(arg: String, into: MutableList<File>): Boolean {
    val f = File(arg)
    when {
        f.isDirectory -> f.walkTopDown()
            .filter { it.isFile && (it.name.endsWith(".kt") || it.name.endsWith(".kts")) }
            .sortedBy { it.path }
            .forEach { into += it }
        f.isFile -> into += f
        else -> {
            System.err.println("kotlin-syntax: $arg: no such file or directory")
            return false
        }
    }
    return true
}

fun main(args: Array<String>) {
    val files = mutableListOf<File>()
    var missing = false
    for (a in args) if (!collect(a, files)) missing = true
    if (missing) exitProcess(2)
    if (files.isEmpty()) {
        System.err.println("kotlin-syntax: no Kotlin files given")
        exitProcess(2)
    }

    Logger.setFactory(QuietLoggerFactory::class.java)
    val disposable = Disposer.newDisposable("kotlin-syntax")
    var failed = 0
    try {
        val configuration = CompilerConfiguration().apply {
            put(CommonConfigurationKeys.MODULE_NAME, "kotlin-syntax")
            put(CommonConfigurationKeys.MESSAGE_COLLECTOR_KEY, MessageCollector.NONE)
            extensionsStorage = CompilerPluginRegistrar.ExtensionStorage() // no compiler plugins
        }
        val env = KotlinCoreEnvironment.createForProduction(
            disposable, configuration, EnvironmentConfigFiles.JVM_CONFIG_FILES
        )
        val factory = KtPsiFactory(env.project, markGenerated = false)
        for (file in files) {
            // The PSI wants '\n' only; converting "\r\n" keeps line numbers and columns.
            val text = StringUtil.convertLineSeparators(file.readText())
            val errors = syntaxErrors(factory.createFile(file.name, text))
            if (errors.isNotEmpty()) failed++
            for (e in errors) {
                val (line, col) = lineCol(text, e.offset)
                println("${file.path}:$line:$col: ${e.message}")
            }
        }
    } finally {
        Disposer.dispose(disposable)
    }
    if (failed > 0) {
        System.err.println("kotlin-syntax: $failed of ${files.size} files have syntax errors")
        exitProcess(1)
    }
    println("kotlin-syntax: ${files.size} files OK")
    exitProcess(0)
}
