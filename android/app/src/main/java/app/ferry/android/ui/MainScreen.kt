package app.ferry.android.ui

import androidx.compose.foundation.layout.consumeWindowInsets
import androidx.compose.foundation.layout.padding
import androidx.compose.material.icons.Icons
import androidx.compose.material.icons.outlined.Devices
import androidx.compose.material.icons.outlined.History
import androidx.compose.material.icons.outlined.Settings
import androidx.compose.material3.Icon
import androidx.compose.material3.NavigationBar
import androidx.compose.material3.NavigationBarItem
import androidx.compose.material3.Scaffold
import androidx.compose.material3.SnackbarHost
import androidx.compose.material3.SnackbarHostState
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.key
import androidx.compose.runtime.remember
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.vector.ImageVector
import androidx.compose.ui.res.stringResource
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.ferry.android.Permissions
import app.ferry.android.R
import app.ferry.logic.NodeState

/** The app: Nearby, History and Settings, with the request sheet, texts and PIN prompts on top. */
@Composable
fun MainScreen(vm: MainViewModel) {
    val tab by vm.tab.collectAsStateWithLifecycle()
    val request by vm.shownRequest.collectAsStateWithLifecycle()
    val texts by vm.texts.collectAsStateWithLifecycle()
    val pin by vm.outbox.pinRequest.collectAsStateWithLifecycle()
    val pairing by vm.pairing.state.collectAsStateWithLifecycle()
    val linkSheet by vm.linkSheet.collectAsStateWithLifecycle()
    val snackbar = remember { SnackbarHostState() }
    val gate = rememberPermissionGate()

    LaunchedEffect(vm) {
        vm.messages.collect { snackbar.showSnackbar(it) }
    }
    LaunchedEffect(Unit) {
        // First launch: explain and ask for what receiving needs, once.
        if (vm.takeFirstRun()) gate.request(Permissions.receiving) { vm.onPermissionsChanged() }
    }

    Scaffold(
        snackbarHost = { SnackbarHost(snackbar) },
        bottomBar = {
            NavigationBar {
                Tab.entries.forEach { t ->
                    NavigationBarItem(
                        selected = tab == t,
                        onClick = { vm.selectTab(t) },
                        icon = { Icon(t.icon, contentDescription = null) },
                        label = { Text(stringResource(t.title)) },
                    )
                }
            }
        },
    ) { padding ->
        val content = Modifier
            .padding(padding)
            .consumeWindowInsets(padding)
        when (tab) {
            Tab.NEARBY -> NearbyScreen(vm, gate, content)
            Tab.HISTORY -> HistoryScreen(vm, content)
            Tab.SETTINGS -> SettingsScreen(vm, content)
        }
    }

    request?.let { r ->
        // One sheet per request: when a request closes (withdrawn by its sender) its sheet goes, and
        // the next one comes up as a new sheet, so a tap meant for the old one never answers it.
        // Every answer names the session of the sheet it was given on.
        key(r.sessionId) {
            RequestSheet(
                request = r,
                onAccept = { ids, trustSender -> vm.accept(r, ids, trustSender) },
                onDecline = { vm.decline(r) },
                onHide = { vm.hideRequest(r.sessionId) },
            )
        }
    }
    texts.firstOrNull()?.let { t ->
        TextsDialog(t, onDismiss = { vm.dismissText(t.id) })
    }
    pin?.let { p ->
        PinDialog(
            deviceAlias = p.device.alias,
            wrongPin = p.wrongPin,
            onPin = { vm.answerPin(it) },
            onDismiss = { vm.answerPin(null) },
        )
    }
    pairing?.let { p ->
        // Opened by a link before the node ran (a cold start): its own code shows once it runs.
        val node by vm.node.collectAsStateWithLifecycle()
        val running = node is NodeState.Running
        LaunchedEffect(running) { if (running && p.ownCode == null) vm.pairing.open() }
        PairSheet(vm.pairing, p)
    }
    if (linkSheet) LinkSheet(vm)
    PermissionDialogs(gate)
}

private val Tab.icon: ImageVector
    get() = when (this) {
        Tab.NEARBY -> Icons.Outlined.Devices
        Tab.HISTORY -> Icons.Outlined.History
        Tab.SETTINGS -> Icons.Outlined.Settings
    }

private val Tab.title: Int
    get() = when (this) {
        Tab.NEARBY -> R.string.tab_nearby
        Tab.HISTORY -> R.string.tab_history
        Tab.SETTINGS -> R.string.tab_settings
    }
