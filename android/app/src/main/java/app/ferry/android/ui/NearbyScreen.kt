package app.ferry.android.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.PaddingValues
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.size
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.selection.toggleable
import androidx.compose.material.icons.Icons
import androidx.compose.material.icons.outlined.Add
import androidx.compose.material.icons.outlined.Link
import androidx.compose.material.icons.outlined.QrCode
import androidx.compose.material.icons.outlined.Close
import androidx.compose.material.icons.outlined.GppMaybe
import androidx.compose.material.icons.outlined.WifiOff
import androidx.compose.material3.Card
import androidx.compose.material3.CardDefaults
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.FilledTonalButton
import androidx.compose.material3.Icon
import androidx.compose.material3.IconButton
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Switch
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TopAppBar
import androidx.compose.material3.pulltorefresh.PullToRefreshBox
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableLongStateOf
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.pluralStringResource
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.semantics.Role
import androidx.compose.ui.unit.dp
import androidx.core.app.NotificationManagerCompat
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.ferry.android.Outgoing
import app.ferry.android.FerryPermission
import app.ferry.android.Permissions
import app.ferry.android.R
import app.ferry.android.formatClock
import app.ferry.android.shortFingerprint
import app.ferry.logic.NearbyDevice
import app.ferry.logic.NodeState
import app.ferry.logic.PinWarning
import app.ferry.logic.RequestPrompt
import app.ferry.logic.Settings
import kotlinx.coroutines.delay

/**
 * Devices around (found now, and favorites), receiving on/off with this device's status,
 * running transfers. Tapping a device opens what to send it; pulling down scans again.
 */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun NearbyScreen(vm: MainViewModel, gate: PermissionGate, modifier: Modifier = Modifier) {
    val devices by vm.devices.collectAsStateWithLifecycle()
    val node by vm.node.collectAsStateWithLifecycle()
    val settings by vm.settings.collectAsStateWithLifecycle()
    val transfers by vm.transfers.collectAsStateWithLifecycle()
    val refreshing by vm.refreshing.collectAsStateWithLifecycle()
    val discovering by vm.discovering.collectAsStateWithLifecycle()
    val pinWarning by vm.pinWarning.collectAsStateWithLifecycle()
    val putAside by vm.putAside.collectAsStateWithLifecycle()
    var showAdd by rememberSaveable { mutableStateOf(false) }
    // A fingerprint: a device is looked up again in the live list (it may have changed).
    var sendTo by rememberSaveable { mutableStateOf<String?>(null) }

    val context = LocalContext.current
    val networkAllowed = gate.granted(Permissions.network)
    DiscoveryWhileVisible(enabled = networkAllowed && node is NodeState.Running, hold = vm::holdDiscovery)

    Column(modifier.fillMaxSize()) {
        TopAppBar(
            title = { Text(stringResource(R.string.app_name)) },
            actions = {
                IconButton(onClick = { gate.request(Permissions.network) { missing -> if (missing.isEmpty()) vm.openLinkSheet() } }) {
                    Icon(Icons.Outlined.Link, contentDescription = stringResource(R.string.link_title))
                }
                IconButton(onClick = { vm.pairing.open() }) {
                    Icon(Icons.Outlined.QrCode, contentDescription = stringResource(R.string.pair_title))
                }
                IconButton(onClick = { gate.request(Permissions.network) { missing -> if (missing.isEmpty()) showAdd = true } }) {
                    Icon(Icons.Outlined.Add, contentDescription = stringResource(R.string.add_title))
                }
            },
        )
        PullToRefreshBox(
            isRefreshing = refreshing,
            onRefresh = { gate.request(Permissions.network) { missing -> if (missing.isEmpty()) vm.rescan() } },
            modifier = Modifier.weight(1f),
        ) {
            LazyColumn(
                contentPadding = PaddingValues(bottom = 16.dp),
                modifier = Modifier.fillMaxSize(),
            ) {
                item(key = "receiving") {
                    ReceivingCard(
                        settings = settings,
                        node = node,
                        // Requests would go unseen in the background (RequestPrompt): say so, and offer the fix.
                        notificationsOff = RequestPrompt.unseenWhenInBackground(
                            settings.receiving,
                            gate.granted(listOf(FerryPermission.NOTIFICATIONS)) &&
                                NotificationManagerCompat.from(context).areNotificationsEnabled(),
                        ),
                        onAllowNotifications = {
                            val notify = listOf(FerryPermission.NOTIFICATIONS)
                            if (gate.missing(notify).isEmpty()) gate.openAppSettings() else gate.request(notify)
                        },
                        onReceivingChange = { on ->
                            if (on) {
                                gate.request(Permissions.receiving) { vm.setReceiving(true) }
                            } else {
                                vm.setReceiving(false)
                            }
                        },
                        modifier = Modifier.padding(horizontal = 16.dp, vertical = 8.dp),
                    )
                }
                putAside.firstOrNull()?.let { r ->
                    item(key = "put-aside") {
                        Card(
                            colors = CardDefaults.cardColors(containerColor = MaterialTheme.colorScheme.secondaryContainer),
                            modifier = Modifier
                                .padding(horizontal = 16.dp, vertical = 8.dp)
                                .fillMaxWidth(),
                        ) {
                            Row(verticalAlignment = Alignment.CenterVertically, modifier = Modifier.padding(start = 16.dp, end = 8.dp)) {
                                Text(
                                    pluralStringResource(R.plurals.requests_put_aside, putAside.size, putAside.size),
                                    style = MaterialTheme.typography.bodyMedium,
                                    modifier = Modifier.weight(1f),
                                )
                                TextButton(onClick = { vm.showRequest(r.sessionId) }) { Text(stringResource(R.string.requests_show)) }
                            }
                        }
                    }
                }
                pinWarning?.let { w ->
                    item(key = "pin-warning") {
                        PinWarningCard(
                            warning = w,
                            onDismiss = vm::dismissPinWarning,
                            modifier = Modifier.padding(horizontal = 16.dp, vertical = 8.dp),
                        )
                    }
                }
                if (!networkAllowed) {
                    item(key = "permission") {
                        NetworkPermissionCard(
                            onGrant = { gate.request(Permissions.network) { vm.onPermissionsChanged() } },
                            modifier = Modifier.padding(horizontal = 16.dp, vertical = 8.dp),
                        )
                    }
                }
                if (transfers.isNotEmpty()) {
                    item(key = "transfers") {
                        TransfersCard(
                            transfers = transfers,
                            onCancel = vm::cancel,
                            onClear = vm::dismissFinished,
                            modifier = Modifier.padding(horizontal = 16.dp, vertical = 8.dp),
                        )
                    }
                }
                item(key = "header") {
                    Row(
                        verticalAlignment = Alignment.CenterVertically,
                        horizontalArrangement = Arrangement.spacedBy(12.dp),
                        modifier = Modifier.padding(start = 16.dp, end = 16.dp, top = 16.dp, bottom = 4.dp),
                    ) {
                        Text(stringResource(R.string.nearby_header), style = MaterialTheme.typography.titleSmall, color = MaterialTheme.colorScheme.primary)
                        if (discovering) CircularProgressIndicator(strokeWidth = 2.dp, modifier = Modifier.size(14.dp))
                    }
                }
                if (devices.isEmpty()) {
                    item(key = "empty") {
                        Text(
                            stringResource(if (discovering) R.string.nearby_searching else R.string.nearby_empty),
                            style = MaterialTheme.typography.bodyMedium,
                            color = MaterialTheme.colorScheme.onSurfaceVariant,
                            modifier = Modifier.padding(16.dp),
                        )
                    }
                }
                items(devices, key = { it.fingerprint }) { device ->
                    DeviceRow(
                        device = device,
                        onClick = { gate.request(Permissions.network) { missing -> if (missing.isEmpty()) sendTo = device.fingerprint } },
                        onFavoriteChange = { vm.setFavorite(device, it) },
                        modifier = Modifier.animateItem(),
                    )
                }
            }
        }
    }

    if (showAdd) {
        AddByAddressDialog(
            onAdd = { address, favorite -> vm.addByAddress(address, favorite) { showAdd = false } },
            onDismiss = { showAdd = false },
        )
    }
    val target: NearbyDevice? = sendTo?.let { fp -> devices.firstOrNull { it.fingerprint == fp } }
    if (target != null) {
        SendSheet(
            device = target,
            onFiles = { uris ->
                sendTo = null
                vm.send(target, Outgoing.Files(uris))
            },
            onText = { text ->
                sendTo = null
                vm.send(target, Outgoing.Text(text))
            },
            onDismiss = { sendTo = null },
            onFolder = { tree ->
                sendTo = null
                vm.send(target, Outgoing.Folder(tree))
            },
        )
    }
}

/** Receiving on or off, and how others see this device. */
@Composable
private fun ReceivingCard(
    settings: Settings,
    node: NodeState,
    notificationsOff: Boolean,
    onAllowNotifications: () -> Unit,
    onReceivingChange: (Boolean) -> Unit,
    modifier: Modifier = Modifier,
) {
    val status = when (node) {
        is NodeState.Running -> stringResource(R.string.receiving_status, settings.alias, node.port, shortFingerprint(node.fingerprint))
        is NodeState.Failed -> node.message
        NodeState.Stopped -> stringResource(R.string.receiving_stopped)
    }
    Card(
        colors = CardDefaults.cardColors(containerColor = MaterialTheme.colorScheme.primaryContainer),
        modifier = modifier.fillMaxWidth(),
    ) {
        Row(
            verticalAlignment = Alignment.CenterVertically,
            modifier = Modifier
                .toggleable(value = settings.receiving, role = Role.Switch, onValueChange = onReceivingChange)
                .padding(16.dp),
        ) {
            Column(Modifier.weight(1f), verticalArrangement = Arrangement.spacedBy(4.dp)) {
                Text(
                    stringResource(if (settings.receiving) R.string.receiving_on else R.string.receiving_off),
                    style = MaterialTheme.typography.titleMedium,
                )
                Text(
                    status,
                    style = MaterialTheme.typography.bodyMedium,
                    color = if (node is NodeState.Failed) MaterialTheme.colorScheme.error else MaterialTheme.colorScheme.onPrimaryContainer,
                )
            }
            Switch(checked = settings.receiving, onCheckedChange = null)
        }
        if (settings.receiving) {
            Text(
                stringResource(R.string.receiving_cost),
                style = MaterialTheme.typography.bodySmall,
                color = MaterialTheme.colorScheme.onPrimaryContainer,
                modifier = Modifier.padding(start = 16.dp, end = 16.dp, bottom = 16.dp),
            )
        }
        if (notificationsOff) {
            Column(Modifier.padding(start = 16.dp, end = 16.dp, bottom = 16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
                Text(
                    stringResource(R.string.receiving_notifications_off),
                    style = MaterialTheme.typography.bodyMedium,
                    color = MaterialTheme.colorScheme.error,
                )
                FilledTonalButton(onClick = onAllowNotifications, modifier = Modifier.align(Alignment.End)) {
                    Text(stringResource(R.string.receiving_allow_notifications))
                }
            }
        }
    }
}

/**
 * Wrong PINs were sent to this device: how many, the address of the last one, and until when
 * Ferry refuses every PIN (the line goes when that time has passed). Shown until dismissed.
 */
@Composable
private fun PinWarningCard(warning: PinWarning, onDismiss: () -> Unit, modifier: Modifier = Modifier) {
    var now by remember(warning) { mutableLongStateOf(System.currentTimeMillis()) }
    LaunchedEffect(warning) {
        val until = warning.lockedUntilMs ?: return@LaunchedEffect
        while (until > System.currentTimeMillis()) delay(until - System.currentTimeMillis())
        now = System.currentTimeMillis()
    }
    Card(
        colors = CardDefaults.cardColors(containerColor = MaterialTheme.colorScheme.errorContainer),
        modifier = modifier.fillMaxWidth(),
    ) {
        Row(Modifier.padding(start = 16.dp, top = 8.dp, bottom = 16.dp, end = 4.dp)) {
            Icon(Icons.Outlined.GppMaybe, contentDescription = null, modifier = Modifier.padding(top = 8.dp))
            Column(
                verticalArrangement = Arrangement.spacedBy(4.dp),
                modifier = Modifier
                    .weight(1f)
                    .padding(start = 12.dp, top = 8.dp),
            ) {
                Text(
                    pluralStringResource(R.plurals.pin_warning_title, warning.failures, warning.failures, warning.shownAddress),
                    style = MaterialTheme.typography.titleSmall,
                )
                Text(stringResource(R.string.pin_warning_text), style = MaterialTheme.typography.bodyMedium)
                val until = warning.lockedUntilMs
                if (until != null && warning.locked(now)) {
                    Text(stringResource(R.string.pin_warning_locked, formatClock(until)), style = MaterialTheme.typography.bodyMedium)
                }
            }
            IconButton(onClick = onDismiss) {
                Icon(Icons.Outlined.Close, contentDescription = stringResource(R.string.pin_warning_dismiss))
            }
        }
    }
}

/** Android 17: nothing on the local network works without this permission. */
@Composable
private fun NetworkPermissionCard(onGrant: () -> Unit, modifier: Modifier = Modifier) {
    Card(
        colors = CardDefaults.cardColors(containerColor = MaterialTheme.colorScheme.errorContainer),
        modifier = modifier.fillMaxWidth(),
    ) {
        Column(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
            Row(verticalAlignment = Alignment.CenterVertically, horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                Icon(Icons.Outlined.WifiOff, contentDescription = null)
                Text(stringResource(R.string.permission_local_network), style = MaterialTheme.typography.titleSmall)
            }
            Text(stringResource(R.string.permission_local_network_rationale), style = MaterialTheme.typography.bodyMedium)
            FilledTonalButton(onClick = onGrant, modifier = Modifier.align(Alignment.End)) {
                Text(stringResource(R.string.permission_grant))
            }
        }
    }
}
