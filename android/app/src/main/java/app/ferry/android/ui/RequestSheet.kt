package app.ferry.android.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.heightIn
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.selection.toggleable
import androidx.compose.foundation.verticalScroll
import androidx.compose.material.icons.Icons
import androidx.compose.material.icons.outlined.GppMaybe
import androidx.compose.material.icons.outlined.VerifiedUser
import androidx.compose.material3.Button
import androidx.compose.material3.Checkbox
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.FilledTonalButton
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.Icon
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.ModalBottomSheet
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Surface
import androidx.compose.material3.Text
import androidx.compose.material3.rememberModalBottomSheetState
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.pluralStringResource
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.semantics.Role
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.text.font.FontFamily
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.text.style.TextOverflow
import androidx.compose.ui.unit.dp
import androidx.compose.ui.unit.sp
import app.ferry.android.R
import app.ferry.android.formatCode
import app.ferry.android.formatSize
import app.ferry.logic.PendingRequest
import app.ferry.logic.shownName

/**
 * Someone wants to send files: who (verified or not), the code both screens show, which files.
 * The user accepts all, some, or declines; a verified sender can be trusted for next time.
 * Swiping the sheet away puts the request aside (it stays answerable from its notification).
 */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun RequestSheet(
    request: PendingRequest,
    onAccept: (fileIds: Set<String>?, trustSender: Boolean) -> Unit,
    onDecline: () -> Unit,
    onHide: () -> Unit,
) {
    val context = LocalContext.current
    val sheetState = rememberModalBottomSheetState(skipPartiallyExpanded = true)
    val allIds = request.files.map { it.id }
    var selected by rememberSaveable(request.sessionId) { mutableStateOf(allIds) }
    var trust by rememberSaveable(request.sessionId) { mutableStateOf(false) }

    ModalBottomSheet(onDismissRequest = onHide, sheetState = sheetState) {
        Column(
            verticalArrangement = Arrangement.spacedBy(16.dp),
            modifier = Modifier
                .verticalScroll(rememberScrollState())
                .padding(start = 24.dp, end = 24.dp, bottom = 24.dp),
        ) {
            Row(verticalAlignment = Alignment.CenterVertically, horizontalArrangement = Arrangement.spacedBy(16.dp)) {
                Icon(request.senderKind.icon, contentDescription = stringResource(request.senderKind.label))
                Column {
                    Text(shownName(request.senderAlias), style = MaterialTheme.typography.headlineSmall, maxLines = 1, overflow = TextOverflow.Ellipsis)
                    val model = listOfNotNull(request.senderModel?.let(::shownName), request.senderAddress).joinToString(" · ")
                    if (model.isNotEmpty()) Text(model, style = MaterialTheme.typography.bodyMedium, color = MaterialTheme.colorScheme.onSurfaceVariant)
                }
            }
            Text(
                pluralStringResource(R.plurals.request_wants_to_send, request.files.size, request.files.size, context.formatSize(request.totalSize)),
                style = MaterialTheme.typography.bodyLarge,
            )

            VerificationPanel(request.verified, request.trusted, request.verificationCode)

            Text(stringResource(R.string.request_files_header), style = MaterialTheme.typography.titleSmall)
            LazyColumn(Modifier.heightIn(max = 240.dp)) {
                items(request.files, key = { it.id }) { f ->
                    val checked = f.id in selected
                    Row(
                        verticalAlignment = Alignment.CenterVertically,
                        modifier = Modifier
                            .fillMaxWidth()
                            .toggleable(
                                value = checked,
                                role = Role.Checkbox,
                                onValueChange = { on -> selected = if (on) selected + f.id else selected - f.id },
                            )
                            .padding(vertical = 4.dp),
                    ) {
                        Checkbox(checked = checked, onCheckedChange = null)
                        Column(Modifier.padding(start = 12.dp)) {
                            Text(shownName(f.name), maxLines = 2, overflow = TextOverflow.Ellipsis)
                            Text(
                                context.formatSize(f.size.toLong()),
                                style = MaterialTheme.typography.bodySmall,
                                color = MaterialTheme.colorScheme.onSurfaceVariant,
                            )
                        }
                    }
                }
            }
            HorizontalDivider()

            Row(
                verticalAlignment = Alignment.CenterVertically,
                modifier = Modifier
                    .fillMaxWidth()
                    .toggleable(value = trust, enabled = request.verified, role = Role.Checkbox, onValueChange = { trust = it }),
            ) {
                Checkbox(checked = trust && request.verified, onCheckedChange = null, enabled = request.verified)
                Column(Modifier.padding(start = 12.dp)) {
                    Text(stringResource(R.string.request_trust))
                    Text(
                        stringResource(if (request.verified) R.string.request_trust_hint else R.string.request_trust_unverified),
                        style = MaterialTheme.typography.bodySmall,
                        color = MaterialTheme.colorScheme.onSurfaceVariant,
                    )
                }
            }

            Row(horizontalArrangement = Arrangement.spacedBy(8.dp), modifier = Modifier.fillMaxWidth()) {
                OutlinedButton(onClick = onDecline, modifier = Modifier.weight(1f)) { Text(stringResource(R.string.action_decline)) }
                val some = selected.isNotEmpty() && selected.size < allIds.size
                if (some) {
                    FilledTonalButton(
                        onClick = { onAccept(selected.toSet(), trust && request.verified) },
                        modifier = Modifier.weight(1f),
                    ) { Text(stringResource(R.string.request_accept_some, selected.size), maxLines = 1) }
                }
                Button(onClick = { onAccept(null, trust && request.verified) }, modifier = Modifier.weight(1f)) {
                    Text(stringResource(R.string.request_accept_all), maxLines = 1)
                }
            }
        }
    }
}

/** Verified or not, what that means, and the code to compare with the sender's screen. */
@Composable
private fun VerificationPanel(verified: Boolean, trusted: Boolean, code: String) {
    val colors = MaterialTheme.colorScheme
    Surface(
        color = if (verified) colors.secondaryContainer else colors.errorContainer,
        contentColor = if (verified) colors.onSecondaryContainer else colors.onErrorContainer,
        shape = MaterialTheme.shapes.large,
        modifier = Modifier.fillMaxWidth(),
    ) {
        Column(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
            Row(verticalAlignment = Alignment.CenterVertically, horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                Icon(if (verified) Icons.Outlined.VerifiedUser else Icons.Outlined.GppMaybe, contentDescription = null)
                Text(
                    stringResource(
                        when {
                            trusted -> R.string.request_trusted
                            verified -> R.string.request_verified
                            else -> R.string.request_not_verified
                        },
                    ),
                    style = MaterialTheme.typography.titleSmall,
                )
            }
            Text(
                stringResource(if (verified) R.string.request_verified_explanation else R.string.request_not_verified_explanation),
                style = MaterialTheme.typography.bodyMedium,
            )
            val grouped = formatCode(code)
            val spoken = stringResource(R.string.request_code_description, grouped)
            Text(
                grouped,
                fontFamily = FontFamily.Monospace,
                fontWeight = FontWeight.Medium,
                fontSize = 26.sp,
                letterSpacing = 2.sp,
                modifier = Modifier.semantics { contentDescription = spoken },
            )
            Text(stringResource(R.string.request_code_hint), style = MaterialTheme.typography.bodySmall)
        }
    }
}
