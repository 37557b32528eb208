package app.ferry.android.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.heightIn
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.size
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material.icons.Icons
import androidx.compose.material.icons.outlined.Refresh
import androidx.compose.material3.Button
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.FilledTonalButton
import androidx.compose.material3.Icon
import androidx.compose.material3.IconButton
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.ModalBottomSheet
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.rememberModalBottomSheetState
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.res.pluralStringResource
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.text.style.TextOverflow
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.ferry.android.Outbox
import app.ferry.android.Outgoing
import app.ferry.android.Permissions
import app.ferry.android.R
import app.ferry.logic.NearbyDevice
import app.ferry.logic.NodeState
import app.ferry.logic.Transfer
import app.ferry.logic.TransferState
import app.ferry.logic.shownName

/** The share sheet: pick a device, then follow the send (or hide the sheet and let it go on). */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun ShareScreen(vm: ShareViewModel, onClose: () -> Unit) {
    val outgoing by vm.outgoing.collectAsStateWithLifecycle()
    val phase by vm.phase.collectAsStateWithLifecycle()
    val devices by vm.devices.collectAsStateWithLifecycle()
    val node by vm.node.collectAsStateWithLifecycle()
    val discovering by vm.discovering.collectAsStateWithLifecycle()
    val refreshing by vm.refreshing.collectAsStateWithLifecycle()
    val transfer by vm.transfer.collectAsStateWithLifecycle()
    val notice by vm.notice.collectAsStateWithLifecycle()
    val pin by vm.outbox.pinRequest.collectAsStateWithLifecycle()
    val gate = rememberPermissionGate()
    val sheetState = rememberModalBottomSheetState(skipPartiallyExpanded = true)

    val networkAllowed = gate.granted(Permissions.network)
    LaunchedEffect(Unit) {
        gate.request(Permissions.network)
    }
    DiscoveryWhileVisible(
        enabled = networkAllowed && node is NodeState.Running && phase == ShareViewModel.Phase.Picking,
        hold = vm::holdDiscovery,
    )

    ModalBottomSheet(onDismissRequest = onClose, sheetState = sheetState) {
        Column(
            verticalArrangement = Arrangement.spacedBy(12.dp),
            modifier = Modifier
                .verticalScroll(rememberScrollState())
                .padding(start = 24.dp, end = 24.dp, bottom = 24.dp),
        ) {
            SharedSummary(outgoing)
            notice?.let { Text(it, style = MaterialTheme.typography.bodyMedium, color = MaterialTheme.colorScheme.error) }

            when (val p = phase) {
                ShareViewModel.Phase.Picking -> DevicePicker(
                    devices = devices,
                    searching = discovering || refreshing,
                    networkAllowed = networkAllowed,
                    onPick = { device -> gate.request(Permissions.network) { missing -> if (missing.isEmpty()) vm.pick(device) } },
                    onRescan = { gate.request(Permissions.network) { missing -> if (missing.isEmpty()) vm.rescan() } },
                )
                ShareViewModel.Phase.Starting -> Row(
                    verticalAlignment = Alignment.CenterVertically,
                    horizontalArrangement = Arrangement.spacedBy(16.dp),
                    modifier = Modifier.padding(vertical = 16.dp),
                ) {
                    CircularProgressIndicator(modifier = Modifier.size(24.dp))
                    Text(stringResource(R.string.share_connecting))
                }
                is ShareViewModel.Phase.Sending -> SendingPanel(
                    transfer = transfer,
                    onCancel = vm::cancel,
                    onClose = onClose,
                    onRetry = vm::backToDevices,
                )
                is ShareViewModel.Phase.TextSent -> {
                    Text(stringResource(if (p.shown) R.string.text_sent else R.string.text_not_shown, shownName(p.alias)))
                    Button(onClick = onClose, modifier = Modifier.align(Alignment.End)) { Text(stringResource(R.string.action_done)) }
                }
                is ShareViewModel.Phase.Failed -> {
                    Text(shownName(p.message), color = MaterialTheme.colorScheme.error)
                    RetryButtons(onRetry = vm::backToDevices, onClose = onClose)
                }
            }
        }
    }

    pin?.let { p ->
        PinDialog(
            deviceAlias = p.device.alias,
            wrongPin = p.wrongPin,
            onPin = { vm.answerPin(it) },
            onDismiss = { vm.answerPin(null) },
        )
    }
    PermissionDialogs(gate)
}

@Composable
private fun SharedSummary(outgoing: Outgoing?) {
    when (outgoing) {
        is Outgoing.Files -> {
            val n = outgoing.uris.size
            Text(pluralStringResource(R.plurals.share_files_title, n, n), style = MaterialTheme.typography.headlineSmall)
        }
        is Outgoing.Folder -> Text(stringResource(R.string.send_folder), style = MaterialTheme.typography.headlineSmall)
        is Outgoing.Text -> {
            Text(stringResource(R.string.share_text_title), style = MaterialTheme.typography.headlineSmall)
            Text(
                outgoing.text,
                maxLines = 3,
                overflow = TextOverflow.Ellipsis,
                style = MaterialTheme.typography.bodyMedium,
                color = MaterialTheme.colorScheme.onSurfaceVariant,
            )
        }
        null -> {}
    }
}

@Composable
private fun DevicePicker(
    devices: List<NearbyDevice>,
    searching: Boolean,
    networkAllowed: Boolean,
    onPick: (NearbyDevice) -> Unit,
    onRescan: () -> Unit,
) {
    Row(verticalAlignment = Alignment.CenterVertically) {
        Text(
            stringResource(R.string.share_pick_device),
            style = MaterialTheme.typography.titleSmall,
            color = MaterialTheme.colorScheme.primary,
            modifier = Modifier.weight(1f),
        )
        if (searching) {
            CircularProgressIndicator(strokeWidth = 2.dp, modifier = Modifier.size(18.dp))
        } else {
            IconButton(onClick = onRescan) {
                Icon(Icons.Outlined.Refresh, contentDescription = stringResource(R.string.nearby_rescan))
            }
        }
    }
    if (!networkAllowed) {
        Text(stringResource(R.string.permission_local_network_rationale), color = MaterialTheme.colorScheme.error)
    }
    if (devices.isEmpty()) {
        Text(
            stringResource(if (searching) R.string.nearby_searching else R.string.nearby_empty),
            style = MaterialTheme.typography.bodyMedium,
            color = MaterialTheme.colorScheme.onSurfaceVariant,
            modifier = Modifier.padding(vertical = 16.dp),
        )
    } else {
        LazyColumn(Modifier.heightIn(max = 360.dp)) {
            items(devices, key = { it.fingerprint }) { device ->
                DeviceRow(device = device, onClick = { onPick(device) }, onFavoriteChange = null)
            }
        }
    }
}

@Composable
private fun SendingPanel(transfer: Transfer?, onCancel: () -> Unit, onClose: () -> Unit, onRetry: () -> Unit) {
    if (transfer == null) {
        CircularProgressIndicator(modifier = Modifier.size(24.dp))
        return
    }
    TransferRow(transfer, onCancel = onCancel)
    when {
        !transfer.state.finished -> Row(horizontalArrangement = Arrangement.End, modifier = Modifier.fillMaxWidth()) {
            // The send goes on in the app: the sheet can go.
            FilledTonalButton(onClick = onClose) { Text(stringResource(R.string.share_hide)) }
        }
        transfer.state == TransferState.DONE -> Row(horizontalArrangement = Arrangement.End, modifier = Modifier.fillMaxWidth()) {
            Button(onClick = onClose) { Text(stringResource(R.string.action_done)) }
        }
        // The PIN dialog takes it from here.
        Outbox.isPinError(transfer.errorKind) -> {}
        transfer.state == TransferState.CANCELLED -> Row(horizontalArrangement = Arrangement.End, modifier = Modifier.fillMaxWidth()) {
            TextButton(onClick = onClose) { Text(stringResource(R.string.action_close)) }
        }
        else -> RetryButtons(onRetry = onRetry, onClose = onClose)
    }
}

@Composable
private fun RetryButtons(onRetry: () -> Unit, onClose: () -> Unit) {
    Row(horizontalArrangement = Arrangement.spacedBy(8.dp, Alignment.End), modifier = Modifier.fillMaxWidth()) {
        OutlinedButton(onClick = onClose) { Text(stringResource(R.string.action_close)) }
        Button(onClick = onRetry) { Text(stringResource(R.string.share_try_again)) }
    }
}
