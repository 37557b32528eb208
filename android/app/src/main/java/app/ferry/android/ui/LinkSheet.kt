package app.ferry.android.ui

import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.widthIn
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.text.selection.SelectionContainer
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.FilledTonalButton
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.ListItem
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.ModalBottomSheet
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Switch
import androidx.compose.material3.Text
import androidx.compose.material3.rememberModalBottomSheetState
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.remember
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.pluralStringResource
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.text.style.TextAlign
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.ferry.android.R
import app.ferry.android.formatSize
import app.ferry.logic.QrImage

/**
 * Share via link (files for any browser on the network: the links, the first as a QR code, the
 * browsers asking to see them, the downloads, Stop) and receive via link (the receive page).
 * The state is the controller's ([app.ferry.logic.LinkShareState], tested in :logic); every
 * browser-supplied text in it is already made safe to show.
 */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun LinkSheet(vm: MainViewModel) {
    val share by vm.linkShare.collectAsStateWithLifecycle()
    val receivePage by vm.receivePage.collectAsStateWithLifecycle()
    val context = LocalContext.current
    val pick = rememberLauncherForActivityResult(ActivityResultContracts.OpenMultipleDocuments()) { uris -> vm.shareByLink(uris) }
    ModalBottomSheet(onDismissRequest = vm::closeLinkSheet, sheetState = rememberModalBottomSheetState(skipPartiallyExpanded = true)) {
        Column(
            verticalArrangement = Arrangement.spacedBy(12.dp),
            horizontalAlignment = Alignment.CenterHorizontally,
            modifier = Modifier
                .verticalScroll(rememberScrollState())
                .padding(horizontal = 24.dp, vertical = 8.dp),
        ) {
            Text(stringResource(R.string.link_title), style = MaterialTheme.typography.titleLarge)
            val s = share
            if (s == null) {
                Text(stringResource(R.string.link_explanation), textAlign = TextAlign.Center)
                Button(onClick = { pick.launch(arrayOf("*/*")) }) { Text(stringResource(R.string.link_choose_files)) }
            } else {
                Text(
                    pluralStringResource(R.plurals.link_sharing, s.files.size, s.files.size, context.formatSize(s.totalBytes)),
                    textAlign = TextAlign.Center,
                )
                s.qr?.let { QrCode(it, stringResource(R.string.link_qr), Modifier.widthIn(max = 260.dp).fillMaxWidth()) }
                if (s.links.isEmpty()) Text(stringResource(R.string.link_no_network), color = MaterialTheme.colorScheme.error)
                SelectionContainer {
                    Column(horizontalAlignment = Alignment.CenterHorizontally) {
                        s.links.forEach { Text(it, style = MaterialTheme.typography.bodyLarge) }
                    }
                }
                Text(stringResource(R.string.link_certificate_hint), style = MaterialTheme.typography.bodySmall, textAlign = TextAlign.Center)
                Text(stringResource(R.string.link_keep_open), style = MaterialTheme.typography.bodySmall, textAlign = TextAlign.Center)
                s.asking.forEach { ask ->
                    ListItem(
                        headlineContent = { Text(stringResource(R.string.link_browser_asks, ask.address)) },
                        supportingContent = {
                            Column {
                                Text(ask.userAgent, style = MaterialTheme.typography.bodySmall, maxLines = 2)
                                Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                                    OutlinedButton(onClick = { vm.answerBrowser(ask.id, false) }) { Text(stringResource(R.string.action_decline)) }
                                    FilledTonalButton(onClick = { vm.answerBrowser(ask.id, true) }) { Text(stringResource(R.string.link_allow)) }
                                }
                            }
                        },
                    )
                }
                s.downloads.takeLast(5).reversed().forEach { d ->
                    Column(Modifier.fillMaxWidth()) {
                        Text(stringResource(R.string.link_download, d.name, d.address), style = MaterialTheme.typography.bodySmall, maxLines = 1)
                        if (!d.finished && d.size > 0) {
                            LinearProgressIndicator(progress = { (d.sent.toFloat() / d.size).coerceIn(0f, 1f) }, modifier = Modifier.fillMaxWidth())
                        }
                    }
                }
                if (s.wrongPins > 0) Text(pluralStringResource(R.plurals.link_wrong_pins, s.wrongPins, s.wrongPins))
                Button(onClick = vm::stopShare) { Text(stringResource(R.string.link_stop)) }
            }
            HorizontalDivider()
            ListItem(
                headlineContent = { Text(stringResource(R.string.link_receive_page)) },
                supportingContent = { Text(stringResource(R.string.link_receive_page_summary)) },
                trailingContent = { Switch(checked = receivePage, onCheckedChange = vm::setReceivePage) },
            )
            if (receivePage && share == null) {
                // Read once per switch (a call into the node), not at every recomposition.
                val links = remember(receivePage) { vm.links() }
                val qr = remember(links) { links.firstOrNull()?.let { QrImage.of(it) } }
                qr?.let { QrCode(it, stringResource(R.string.link_qr), Modifier.widthIn(max = 220.dp).fillMaxWidth()) }
                SelectionContainer { Column { links.forEach { Text(it) } } }
            }
        }
    }
}
