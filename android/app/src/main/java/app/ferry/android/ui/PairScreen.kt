package app.ferry.android.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.size
import androidx.compose.foundation.layout.widthIn
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.text.selection.SelectionContainer
import androidx.compose.foundation.verticalScroll
import androidx.compose.material.icons.Icons
import androidx.compose.material.icons.outlined.QrCodeScanner
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.CardDefaults
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.FilledTonalButton
import androidx.compose.material3.Icon
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.ModalBottomSheet
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.rememberModalBottomSheetState
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.text.style.TextAlign
import androidx.compose.ui.unit.dp
import app.ferry.android.R
import app.ferry.android.platform.CodeScanner
import app.ferry.logic.PairResult
import app.ferry.logic.PairingModel
import app.ferry.logic.PairingSource

/**
 * "Pair with QR": this device's code as a QR code (for the other device to scan), and the other
 * way round: Scan (Google's code scanner) or paste its code. A code opened as a link is shown for
 * a yes first. What happened is [PairingModel]'s (in :logic, tested); this only shows it.
 */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun PairSheet(model: PairingModel, state: PairingModel.State) {
    val context = LocalContext.current
    var pasted by rememberSaveable { mutableStateOf("") }
    var scanError by rememberSaveable { mutableStateOf<String?>(null) }
    ModalBottomSheet(onDismissRequest = model::close, sheetState = rememberModalBottomSheetState(skipPartiallyExpanded = true)) {
        Column(
            verticalArrangement = Arrangement.spacedBy(12.dp),
            horizontalAlignment = Alignment.CenterHorizontally,
            modifier = Modifier
                .verticalScroll(rememberScrollState())
                .padding(horizontal = 24.dp, vertical = 8.dp),
        ) {
            Text(stringResource(R.string.pair_title), style = MaterialTheme.typography.titleLarge)

            state.confirm?.let {
                Card(colors = CardDefaults.cardColors(containerColor = MaterialTheme.colorScheme.secondaryContainer)) {
                    Column(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
                        Text(stringResource(R.string.pair_confirm_title), style = MaterialTheme.typography.titleSmall)
                        Text(stringResource(R.string.pair_confirm_text, state.confirmFingerprint ?: "?"))
                        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                            TextButton(onClick = model::dismissConfirm) { Text(stringResource(R.string.action_cancel)) }
                            Button(onClick = model::confirm) { Text(stringResource(R.string.pair_action)) }
                        }
                    }
                }
            }
            if (state.busy) {
                Row(verticalAlignment = Alignment.CenterVertically, horizontalArrangement = Arrangement.spacedBy(12.dp)) {
                    CircularProgressIndicator(strokeWidth = 2.dp, modifier = Modifier.size(20.dp))
                    Text(stringResource(R.string.pair_busy))
                }
            }
            state.result?.let { r ->
                Text(
                    r.message,
                    color = if (r is PairResult.Paired) MaterialTheme.colorScheme.primary else MaterialTheme.colorScheme.error,
                    textAlign = TextAlign.Center,
                )
            }

            Text(stringResource(R.string.pair_own_explanation), textAlign = TextAlign.Center, style = MaterialTheme.typography.bodyMedium)
            val qr = state.qr
            if (qr != null) {
                QrCode(qr, stringResource(R.string.pair_own_qr), Modifier.widthIn(max = 280.dp).fillMaxWidth())
                SelectionContainer {
                    Text(state.ownCode.orEmpty(), style = MaterialTheme.typography.bodySmall, color = MaterialTheme.colorScheme.onSurfaceVariant)
                }
            } else {
                Text(stringResource(R.string.pair_own_unavailable), color = MaterialTheme.colorScheme.onSurfaceVariant)
            }

            Text(stringResource(R.string.pair_other_explanation), textAlign = TextAlign.Center, style = MaterialTheme.typography.bodyMedium)
            FilledTonalButton(
                enabled = !state.busy,
                onClick = {
                    scanError = null
                    CodeScanner.scan(
                        context,
                        onResult = { text -> if (text != null) model.offer(text, PairingSource.SCAN) },
                        onError = { scanError = it },
                    )
                },
            ) {
                Icon(Icons.Outlined.QrCodeScanner, contentDescription = null)
                Text(stringResource(R.string.pair_scan), modifier = Modifier.padding(start = 8.dp))
            }
            scanError?.let { Text(stringResource(R.string.pair_scan_failed, it), color = MaterialTheme.colorScheme.error) }
            OutlinedTextField(
                value = pasted,
                onValueChange = { pasted = it.trim() },
                label = { Text(stringResource(R.string.pair_paste_label)) },
                placeholder = { Text("ferry://pair?v=1&fp=…") },
                singleLine = true,
                modifier = Modifier.fillMaxWidth(),
            )
            Button(onClick = { model.offer(pasted, PairingSource.PASTE) }, enabled = pasted.isNotEmpty() && !state.busy) {
                Text(stringResource(R.string.pair_action))
            }
        }
    }
}
