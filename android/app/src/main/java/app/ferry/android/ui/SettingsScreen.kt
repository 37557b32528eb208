package app.ferry.android.ui

import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.annotation.StringRes
import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.selection.toggleable
import androidx.compose.material.icons.Icons
import androidx.compose.material.icons.outlined.Delete
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.Icon
import androidx.compose.material3.IconButton
import androidx.compose.material3.ListItem
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Switch
import androidx.compose.material3.Text
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.semantics.Role
import androidx.compose.ui.text.font.FontFamily
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.ferry.android.R
import app.ferry.android.formatCode
import app.ferry.android.shortFingerprint
import app.ferry.core.DeviceKind
import app.ferry.logic.Destination
import app.ferry.logic.NodeState
import app.ferry.logic.QuickSave
import app.ferry.logic.Settings
import app.ferry.logic.shownName

private enum class Editing { ALIAS, KIND, PORT, PIN, QUICK_SAVE, DESTINATION }

/** This device's name and type, how it receives, its network setup, and the devices it trusts. */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun SettingsScreen(vm: MainViewModel, modifier: Modifier = Modifier) {
    val settings by vm.settings.collectAsStateWithLifecycle()
    val node by vm.node.collectAsStateWithLifecycle()
    val trusted by vm.trusted.collectAsStateWithLifecycle()
    var editing by rememberSaveable { mutableStateOf<Editing?>(null) }
    var untrusting by rememberSaveable { mutableStateOf<String?>(null) }
    val pickFolder = rememberLauncherForActivityResult(ActivityResultContracts.OpenDocumentTree()) { uri ->
        if (uri != null) vm.useFolder(uri)
    }
    val portError = stringResource(R.string.settings_port_invalid)

    Column(modifier.fillMaxSize()) {
        TopAppBar(title = { Text(stringResource(R.string.tab_settings)) })
        LazyColumn(Modifier.fillMaxSize()) {
            item { SectionHeader(R.string.settings_section_device) }
            item {
                SettingRow(stringResource(R.string.settings_alias), settings.alias) { editing = Editing.ALIAS }
            }
            item {
                SettingRow(stringResource(R.string.settings_kind), stringResource(settings.deviceKind.label)) { editing = Editing.KIND }
            }
            val running = node as? NodeState.Running
            if (running != null) {
                item {
                    ListItem(
                        headlineContent = { Text(stringResource(R.string.settings_fingerprint)) },
                        supportingContent = {
                            Text(shortFingerprint(running.fingerprint), fontFamily = FontFamily.Monospace)
                        },
                    )
                }
            }

            item { SectionHeader(R.string.settings_section_receiving) }
            item {
                SettingRow(stringResource(R.string.settings_quick_save), stringResource(settings.quickSave.label)) { editing = Editing.QUICK_SAVE }
            }
            item {
                val where = when (val d = settings.destination) {
                    Destination.Downloads -> stringResource(R.string.settings_destination_downloads)
                    is Destination.Folder -> d.label
                    is Destination.Directory -> d.path
                }
                SettingRow(stringResource(R.string.settings_destination), where) { editing = Editing.DESTINATION }
            }
            item {
                SettingRow(
                    stringResource(R.string.settings_pin),
                    if (settings.pin == null) stringResource(R.string.settings_pin_none) else stringResource(R.string.settings_pin_set),
                ) { editing = Editing.PIN }
            }
            item {
                SwitchRow(
                    title = stringResource(R.string.settings_skip_existing),
                    summary = stringResource(R.string.settings_skip_existing_summary),
                    checked = settings.skipExisting,
                    onCheckedChange = { on -> vm.updateSettings { it.copy(skipExisting = on) } },
                )
            }

            item { SectionHeader(R.string.settings_section_network) }
            item {
                SettingRow(stringResource(R.string.settings_port), settings.port.toString()) { editing = Editing.PORT }
            }
            item {
                SwitchRow(
                    title = stringResource(R.string.settings_encryption),
                    summary = stringResource(R.string.settings_encryption_summary),
                    checked = settings.encryption,
                    onCheckedChange = { on -> vm.updateSettings { it.copy(encryption = on) } },
                )
            }

            item { SectionHeader(R.string.settings_section_trusted) }
            if (trusted.isEmpty()) {
                item {
                    ListItem(
                        headlineContent = {
                            Text(stringResource(R.string.settings_trusted_empty), color = MaterialTheme.colorScheme.onSurfaceVariant)
                        },
                    )
                }
            }
            items(trusted, key = { it.fingerprint }) { t ->
                ListItem(
                    headlineContent = { Text(t.alias?.let(::shownName) ?: shortFingerprint(t.fingerprint)) },
                    supportingContent = { Text(formatCode(t.verificationCode), fontFamily = FontFamily.Monospace) },
                    trailingContent = {
                        IconButton(onClick = { untrusting = t.fingerprint }) {
                            Icon(Icons.Outlined.Delete, contentDescription = stringResource(R.string.settings_untrust))
                        }
                    },
                )
            }
        }
    }

    when (editing) {
        Editing.ALIAS -> EditTextDialog(
            title = stringResource(R.string.settings_alias),
            initial = settings.alias,
            onSave = { alias -> vm.updateSettings(onSaved = { editing = null }) { it.copy(alias = alias.trim()) } },
            onDismiss = { editing = null },
        )
        Editing.KIND -> ChoiceDialog(
            title = stringResource(R.string.settings_kind),
            options = DeviceKind.entries,
            selected = settings.deviceKind,
            label = { stringResource(it.label) },
            onSelect = { kind -> vm.updateSettings(onSaved = { editing = null }) { it.copy(deviceKind = kind) } },
            onDismiss = { editing = null },
        )
        Editing.PORT -> EditTextDialog(
            title = stringResource(R.string.settings_port),
            initial = settings.port.toString(),
            supporting = stringResource(R.string.settings_port_hint, Settings.DEFAULT_PORT),
            keyboardType = KeyboardType.Number,
            onSave = { value ->
                val port = value.trim().toIntOrNull()
                if (port == null) vm.report(portError) else vm.updateSettings(onSaved = { editing = null }) { it.copy(port = port) }
            },
            onDismiss = { editing = null },
        )
        Editing.PIN -> EditTextDialog(
            title = stringResource(R.string.settings_pin),
            initial = settings.pin.orEmpty(),
            supporting = stringResource(R.string.settings_pin_hint),
            keyboardType = KeyboardType.Password,
            secret = true,
            onSave = { pin -> vm.updateSettings(onSaved = { editing = null }) { it.copy(pin = pin.ifEmpty { null }) } },
            onDismiss = { editing = null },
        )
        Editing.QUICK_SAVE -> ChoiceDialog(
            title = stringResource(R.string.settings_quick_save),
            options = QuickSave.entries,
            selected = settings.quickSave,
            label = { stringResource(it.label) },
            onSelect = { q -> vm.updateSettings(onSaved = { editing = null }) { it.copy(quickSave = q) } },
            onDismiss = { editing = null },
        )
        Editing.DESTINATION -> ChoiceDialog(
            title = stringResource(R.string.settings_destination),
            options = listOf(false, true),
            selected = settings.destination is Destination.Folder,
            label = { folder ->
                if (folder) stringResource(R.string.settings_destination_folder) else stringResource(R.string.settings_destination_downloads)
            },
            onSelect = { folder ->
                editing = null
                if (folder) pickFolder.launch(null) else vm.useDownloads()
            },
            onDismiss = { editing = null },
        )
        null -> {}
    }

    untrusting?.let { fingerprint ->
        val name = trusted.firstOrNull { it.fingerprint == fingerprint }?.alias?.let(::shownName) ?: shortFingerprint(fingerprint)
        ConfirmDialog(
            title = stringResource(R.string.settings_untrust),
            text = stringResource(R.string.settings_untrust_confirm, name),
            confirm = stringResource(R.string.settings_untrust_action),
            onConfirm = { vm.untrust(fingerprint) },
            onDismiss = { untrusting = null },
        )
    }
}

@get:StringRes
private val QuickSave.label: Int
    get() = when (this) {
        QuickSave.OFF -> R.string.quick_save_off
        QuickSave.TRUSTED -> R.string.quick_save_trusted
        QuickSave.EVERYONE -> R.string.quick_save_everyone
    }

@Composable
private fun SectionHeader(@StringRes title: Int) {
    Text(
        stringResource(title),
        style = MaterialTheme.typography.titleSmall,
        color = MaterialTheme.colorScheme.primary,
        modifier = Modifier.padding(start = 16.dp, end = 16.dp, top = 24.dp, bottom = 8.dp),
    )
}

@Composable
private fun SettingRow(title: String, value: String, onClick: () -> Unit) {
    ListItem(
        headlineContent = { Text(title) },
        supportingContent = { Text(value) },
        modifier = Modifier.clickable(onClick = onClick),
    )
}

@Composable
private fun SwitchRow(title: String, summary: String, checked: Boolean, onCheckedChange: (Boolean) -> Unit) {
    ListItem(
        headlineContent = { Text(title) },
        supportingContent = { Text(summary) },
        trailingContent = { Switch(checked = checked, onCheckedChange = null) },
        modifier = Modifier.toggleable(value = checked, role = Role.Switch, onValueChange = onCheckedChange),
    )
}
