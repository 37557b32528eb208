package app.ferry.android.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material.icons.Icons
import androidx.compose.material.icons.outlined.Close
import androidx.compose.material.icons.outlined.FileDownload
import androidx.compose.material.icons.outlined.FileUpload
import androidx.compose.material3.ElevatedCard
import androidx.compose.material3.Icon
import androidx.compose.material3.IconButton
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.pluralStringResource
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.text.style.TextOverflow
import androidx.compose.ui.unit.dp
import app.ferry.android.R
import app.ferry.android.formatSize
import app.ferry.logic.Direction
import app.ferry.logic.Transfer
import app.ferry.logic.TransferState
import app.ferry.logic.TransferText
import app.ferry.logic.shownName

/** Running transfers (with progress and Cancel) and those that ended, until cleared. */
@Composable
fun TransfersCard(transfers: List<Transfer>, onCancel: (String) -> Unit, onClear: () -> Unit, modifier: Modifier = Modifier) {
    ElevatedCard(modifier) {
        Column(Modifier.padding(vertical = 8.dp)) {
            Row(
                verticalAlignment = Alignment.CenterVertically,
                modifier = Modifier.padding(start = 16.dp, end = 8.dp),
            ) {
                Text(stringResource(R.string.transfers_title), style = MaterialTheme.typography.titleMedium, modifier = Modifier.weight(1f))
                if (transfers.any { it.state.finished }) {
                    TextButton(onClick = onClear) { Text(stringResource(R.string.transfers_clear)) }
                }
            }
            transfers.forEach { t -> TransferRow(t, onCancel = { onCancel(t.id) }) }
        }
    }
}

@Composable
fun TransferRow(t: Transfer, onCancel: () -> Unit, modifier: Modifier = Modifier) {
    val receiving = t.direction == Direction.RECEIVE
    Column(modifier.fillMaxWidth().padding(start = 16.dp, end = 8.dp, top = 8.dp, bottom = 8.dp)) {
        Row(verticalAlignment = Alignment.CenterVertically, horizontalArrangement = Arrangement.spacedBy(12.dp)) {
            Icon(
                if (receiving) Icons.Outlined.FileDownload else Icons.Outlined.FileUpload,
                contentDescription = stringResource(if (receiving) R.string.direction_receive else R.string.direction_send),
            )
            Column(Modifier.weight(1f)) {
                Text(
                    stringResource(if (receiving) R.string.transfer_from else R.string.transfer_to, shownName(t.peerAlias)),
                    style = MaterialTheme.typography.titleSmall,
                    maxLines = 1,
                    overflow = TextOverflow.Ellipsis,
                )
                Text(
                    fileNamesSummary(t.fileNames),
                    style = MaterialTheme.typography.bodySmall,
                    maxLines = 1,
                    overflow = TextOverflow.Ellipsis,
                )
                Text(
                    transferStatus(t),
                    style = MaterialTheme.typography.bodySmall,
                    color = if (t.state == TransferState.FAILED) MaterialTheme.colorScheme.error else MaterialTheme.colorScheme.onSurfaceVariant,
                )
                // Speed and time left, "Reconnecting…", "Resumed at 12 MB", "3 already there, skipped" (decided in :logic).
                val context = LocalContext.current
                val size = { b: Long -> context.formatSize(b) }
                listOfNotNull(TransferText.speed(t, size), TransferText.notes(t, size)).forEach { line ->
                    Text(line, style = MaterialTheme.typography.bodySmall, color = MaterialTheme.colorScheme.onSurfaceVariant)
                }
            }
            if (!t.state.finished) {
                IconButton(onClick = onCancel) {
                    Icon(Icons.Outlined.Close, contentDescription = stringResource(R.string.action_cancel))
                }
            }
        }
        if (!t.state.finished) {
            val fraction = t.fraction
            val progressModifier = Modifier.fillMaxWidth().padding(top = 8.dp, end = 8.dp)
            if (fraction == null || t.state == TransferState.WAITING) {
                LinearProgressIndicator(modifier = progressModifier)
            } else {
                LinearProgressIndicator(progress = { fraction }, modifier = progressModifier)
            }
        }
    }
}

/** "a.jpg, b.jpg and 3 more" */
@Composable
fun fileNamesSummary(names: List<String>): String {
    val shown = names.take(2).joinToString(", ") { shownName(it.substringAfterLast('/')) }
    val more = names.size - 2
    return if (more > 0) pluralStringResource(R.plurals.names_and_more, more, shown, more) else shown
}

@Composable
fun transferStatus(t: Transfer): String {
    val context = LocalContext.current
    return when (t.state) {
        TransferState.WAITING -> stringResource(if (t.direction == Direction.SEND) R.string.transfer_waiting else R.string.transfer_starting)
        TransferState.RUNNING -> stringResource(
            R.string.transfer_progress, t.filesDone, t.fileNames.size, context.formatSize(t.bytesDone), context.formatSize(t.bytesTotal),
        )
        TransferState.DONE ->
            if (t.filesFailed > 0) stringResource(R.string.transfer_done_partial, t.filesDone, t.filesFailed)
            else pluralStringResource(R.plurals.transfer_done, t.filesDone, t.filesDone)
        TransferState.FAILED -> t.message?.let(::shownName) ?: stringResource(R.string.transfer_failed)
        TransferState.CANCELLED -> t.message?.let(::shownName) ?: stringResource(R.string.transfer_cancelled)
        TransferState.DECLINED -> stringResource(R.string.transfer_declined)
    }
}
