package app.ferry.android.ui

import android.content.Context
import android.content.Intent
import android.net.Uri
import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.viewModels
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.*
import androidx.compose.runtime.*
import androidx.compose.ui.Modifier
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.launch
import app.ferry.android.R

/** A peer found on the network. */
data class Peer(val alias: String, val fingerprint: String, val port: Int = 53317)

sealed interface TransferState {
    object Idle : TransferState
    data class Sending(val sent: Long, val total: Long) : TransferState
    data class Failed(val reason: String) : TransferState
}

enum class Direction { IN, OUT }

interface Repository<T : Any> {
    fun all(): List<T>
    suspend fun refresh()
}

class PeerRepository(private val delegate: MutableMap<String, Peer> = mutableMapOf()) :
    Repository<Peer>, MutableMap<String, Peer> by delegate {
    override fun all(): List<Peer> = delegate.values.sortedBy { it.alias.lowercase() }
    override suspend fun refresh() = Unit
}

class Settings(context: Context) {
    private val prefs = context.getSharedPreferences("ferry", Context.MODE_PRIVATE)
    val alias: String by lazy { prefs.getString("alias", null) ?: android.os.Build.MODEL }
    var counter: Int by mutableStateOf(0)
}

fun Long.humanBytes(): String = when {
    this >= 1L shl 30 -> "%.1f GiB".format(this / (1L shl 30).toDouble())
    this >= 1L shl 20 -> "%.1f MiB".format(this / (1L shl 20).toDouble())
    this >= 1024 -> "${this / 1024} KiB"
    else -> "$this B"
}

inline fun <reified T> Intent.parcelableList(name: String): List<T> =
    @Suppress("DEPRECATION")
    (getParcelableArrayListExtra<android.os.Parcelable>(name) ?: arrayListOf()).filterIsInstance<T>()

class MainActivity : ComponentActivity() {
    private val model: MainViewModel by viewModels()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val shared: List<Uri> = when (intent?.action) {
            Intent.ACTION_SEND -> listOfNotNull(intent.getParcelableExtra(Intent.EXTRA_STREAM))
            Intent.ACTION_SEND_MULTIPLE -> intent.parcelableList(Intent.EXTRA_STREAM)
            else -> emptyList()
        }
        setContent {
            MaterialTheme {
                FerryScreen(model, shared) { peer ->
                    model.send(peer, shared)
                }
            }
        }
    }
}

class MainViewModel : androidx.lifecycle.ViewModel() {
    private val _state = MutableStateFlow<TransferState>(TransferState.Idle)
    val state: StateFlow<TransferState> get() = _state
    fun send(peer: Peer, uris: List<Uri>) {
        androidx.lifecycle.viewModelScope.launch {
            _state.value = TransferState.Sending(0, uris.size.toLong())
        }
    }
}

@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun FerryScreen(model: MainViewModel, shared: List<Uri>, onPick: (Peer) -> Unit) {
    val state by model.state.collectAsState()
    var query by remember { mutableStateOf("") }
    val peers = remember { mutableStateListOf<Peer>() }
    Scaffold(topBar = { TopAppBar(title = { Text(stringResource(R.string.app_name)) }) }) { padding ->
        Column(Modifier.padding(padding).padding(horizontal = 16.dp)) {
            OutlinedTextField(value = query, onValueChange = { query = it }, label = { Text("Name") })
            when (val s = state) {
                is TransferState.Idle -> Text("${shared.size} files ready")
                is TransferState.Sending -> LinearProgressIndicator(progress = { s.sent.toFloat() / s.total })
                is TransferState.Failed -> Text(text = "Failed: ${s.reason}", color = MaterialTheme.colorScheme.error)
            }
            LazyColumn {
                items(peers.filter { query in it.alias }, key = { it.fingerprint }) { peer ->
                    ListItem(
                        headlineContent = { Text(peer.alias) },
                        supportingContent = { Text("${peer.fingerprint.take(8)}…:${peer.port}") },
                        modifier = Modifier.padding(vertical = 4.dp),
                    )
                    TextButton(onClick = { onPick(peer) }) { Text("Send") }
                }
            }
        }
    }
}

object Limits {
    const val MAX_FILES = 10_000
    @JvmStatic val chunk: Int = 1 shl 16
}

fun interface Callback { fun onDone(ok: Boolean) }

private val raw = """
    multi-line ${Limits.MAX_FILES} "quoted" ${Direction.IN}
""".trimIndent()

typealias PeerMap = Map<String, List<Peer>>

fun labels(vararg names: String): PeerMap = names.associateWith { emptyList<Peer>() }

suspend fun <T> retry(times: Int = 3, block: suspend () -> T): T {
    repeat(times - 1) {
        try { return block() } catch (e: java.io.IOException) { /* try again */ }
    }
    return block()
}
