package app.ferry.android.ui

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.size
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material.icons.Icons
import androidx.compose.material.icons.automirrored.outlined.Chat
import androidx.compose.material.icons.automirrored.outlined.OpenInNew
import androidx.compose.material.icons.outlined.ContentCopy
import androidx.compose.material.icons.outlined.Delete
import androidx.compose.material.icons.outlined.DeleteSweep
import androidx.compose.material.icons.outlined.FileDownload
import androidx.compose.material.icons.outlined.FileUpload
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.Icon
import androidx.compose.material3.IconButton
import androidx.compose.material3.ListItem
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.pluralStringResource
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.text.style.TextOverflow
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.ferry.android.R
import app.ferry.android.formatSize
import app.ferry.android.formatTime
import app.ferry.android.platform.ReceivedFiles
import app.ferry.logic.Direction
import app.ferry.logic.HistoryEntry
import app.ferry.logic.HistoryFile
import app.ferry.logic.HistoryOutcome
import app.ferry.logic.shownName
import app.ferry.logic.shownText

/** What was sent and received, newest first. Received files open in the app for their type. */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun HistoryScreen(vm: MainViewModel, modifier: Modifier = Modifier) {
    val history by vm.history.collectAsStateWithLifecycle()
    val context = LocalContext.current
    var confirmClear by rememberSaveable { mutableStateOf(false) }
    val openFailed = stringResource(R.string.open_failed)

    Column(modifier.fillMaxSize()) {
        TopAppBar(
            title = { Text(stringResource(R.string.tab_history)) },
            actions = {
                if (history.isNotEmpty()) {
                    IconButton(onClick = { confirmClear = true }) {
                        Icon(Icons.Outlined.DeleteSweep, contentDescription = stringResource(R.string.history_clear))
                    }
                }
            },
        )
        if (history.isEmpty()) {
            Box(Modifier.fillMaxSize().padding(32.dp), contentAlignment = Alignment.Center) {
                Text(
                    stringResource(R.string.history_empty),
                    style = MaterialTheme.typography.bodyLarge,
                    color = MaterialTheme.colorScheme.onSurfaceVariant,
                )
            }
        } else {
            LazyColumn(Modifier.fillMaxSize()) {
                items(history, key = { it.id }) { entry ->
                    HistoryRow(
                        entry = entry,
                        onOpen = { file ->
                            val location = file.location
                            if (location == null || !ReceivedFiles.open(context, location, file.name)) vm.report(openFailed)
                        },
                        onCopy = { text -> copyToClipboard(context, context.getString(R.string.clip_label, entry.peerAlias), text) },
                        onRemove = { vm.removeHistory(entry.id) },
                        modifier = Modifier.animateItem(),
                    )
                    HorizontalDivider()
                }
            }
        }
    }

    if (confirmClear) {
        ConfirmDialog(
            title = stringResource(R.string.history_clear),
            text = stringResource(R.string.history_clear_confirm),
            confirm = stringResource(R.string.history_clear_action),
            onConfirm = vm::clearHistory,
            onDismiss = { confirmClear = false },
        )
    }
}

@Composable
private fun HistoryRow(
    entry: HistoryEntry,
    onOpen: (HistoryFile) -> Unit,
    onCopy: (String) -> Unit,
    onRemove: () -> Unit,
    modifier: Modifier = Modifier,
) {
    val context = LocalContext.current
    val received = entry.direction == Direction.RECEIVE
    val text = entry.text
    ListItem(
        modifier = modifier,
        leadingContent = {
            Icon(
                when {
                    text != null -> Icons.AutoMirrored.Outlined.Chat
                    received -> Icons.Outlined.FileDownload
                    else -> Icons.Outlined.FileUpload
                },
                contentDescription = stringResource(if (received) R.string.direction_receive else R.string.direction_send),
            )
        },
        overlineContent = { Text(context.formatTime(entry.atMs)) },
        headlineContent = {
            Text(
                stringResource(if (received) R.string.transfer_from else R.string.transfer_to, shownName(entry.peerAlias)),
                maxLines = 1,
                overflow = TextOverflow.Ellipsis,
            )
        },
        supportingContent = {
            Column(verticalArrangement = Arrangement.spacedBy(4.dp)) {
                Text(
                    outcomeText(entry),
                    style = MaterialTheme.typography.bodySmall,
                    color = outcomeColor(entry.outcome),
                )
                if (text != null) {
                    Text(shownText(text), maxLines = 4, overflow = TextOverflow.Ellipsis, style = MaterialTheme.typography.bodyMedium)
                }
                entry.files.take(MAX_FILES_SHOWN).forEach { file ->
                    val canOpen = received && file.location != null && entry.outcome != HistoryOutcome.CANCELLED
                    FileLine(file, canOpen = canOpen, onOpen = { onOpen(file) })
                }
                val more = entry.files.size - MAX_FILES_SHOWN
                if (more > 0) {
                    Text(pluralStringResource(R.plurals.more_files, more, more), style = MaterialTheme.typography.bodySmall)
                }
            }
        },
        trailingContent = {
            Row {
                if (text != null) {
                    IconButton(onClick = { onCopy(text) }) {
                        Icon(Icons.Outlined.ContentCopy, contentDescription = stringResource(R.string.action_copy))
                    }
                }
                IconButton(onClick = onRemove) {
                    Icon(Icons.Outlined.Delete, contentDescription = stringResource(R.string.history_remove))
                }
            }
        },
    )
}

@Composable
private fun FileLine(file: HistoryFile, canOpen: Boolean, onOpen: () -> Unit) {
    val context = LocalContext.current
    val label = buildString {
        append(shownName(file.name))
        if (file.size > 0) append(" · ").append(context.formatSize(file.size))
    }
    Row(
        verticalAlignment = Alignment.CenterVertically,
        horizontalArrangement = Arrangement.spacedBy(6.dp),
        modifier = if (canOpen) {
            Modifier
                .fillMaxWidth()
                .clickable(onClickLabel = stringResource(R.string.action_open), onClick = onOpen)
                .padding(vertical = 6.dp)
        } else {
            Modifier.fillMaxWidth()
        },
    ) {
        Text(
            label,
            style = MaterialTheme.typography.bodyMedium,
            color = if (canOpen) MaterialTheme.colorScheme.primary else Color.Unspecified,
            maxLines = 1,
            overflow = TextOverflow.Ellipsis,
            modifier = Modifier.weight(1f, fill = false),
        )
        if (canOpen) Icon(Icons.AutoMirrored.Outlined.OpenInNew, contentDescription = null, modifier = Modifier.size(16.dp), tint = MaterialTheme.colorScheme.primary)
    }
}

@Composable
private fun outcomeText(entry: HistoryEntry): String {
    val context = LocalContext.current
    val outcome = stringResource(
        when (entry.outcome) {
            HistoryOutcome.DONE -> if (entry.direction == Direction.RECEIVE) R.string.outcome_received else R.string.outcome_sent
            HistoryOutcome.PARTIAL -> R.string.outcome_partial
            HistoryOutcome.FAILED -> R.string.outcome_failed
            HistoryOutcome.CANCELLED -> R.string.outcome_cancelled
            HistoryOutcome.DECLINED -> R.string.outcome_declined
        },
    )
    val parts = listOfNotNull(outcome, entry.bytes.takeIf { it > 0 && entry.text == null }?.let { context.formatSize(it) }, entry.message?.let(::shownName))
    return parts.joinToString(" · ")
}

@Composable
private fun outcomeColor(outcome: HistoryOutcome): Color = when (outcome) {
    HistoryOutcome.FAILED -> MaterialTheme.colorScheme.error
    HistoryOutcome.DONE -> MaterialTheme.colorScheme.primary
    else -> MaterialTheme.colorScheme.onSurfaceVariant
}

private const val MAX_FILES_SHOWN = 5
