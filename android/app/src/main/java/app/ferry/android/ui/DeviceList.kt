package app.ferry.android.ui

import androidx.annotation.StringRes
import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.size
import androidx.compose.material.icons.Icons
import androidx.compose.material.icons.filled.Star
import androidx.compose.material.icons.outlined.Computer
import androidx.compose.material.icons.outlined.Dns
import androidx.compose.material.icons.outlined.Language
import androidx.compose.material.icons.outlined.Smartphone
import androidx.compose.material.icons.outlined.StarBorder
import androidx.compose.material.icons.outlined.Terminal
import androidx.compose.material.icons.outlined.VerifiedUser
import androidx.compose.material3.Icon
import androidx.compose.material3.IconToggleButton
import androidx.compose.material3.ListItem
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.rememberUpdatedState
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.draw.alpha
import androidx.compose.ui.graphics.vector.ImageVector
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.text.style.TextOverflow
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.LifecycleStartEffect
import app.ferry.android.R
import app.ferry.core.DeviceKind
import app.ferry.logic.NearbyDevice
import app.ferry.logic.shownName

/** One device of the nearby list: kind, name, verified badge, model and address, favorite star. */
@Composable
fun DeviceRow(
    device: NearbyDevice,
    onClick: () -> Unit,
    onFavoriteChange: ((Boolean) -> Unit)?,
    modifier: Modifier = Modifier,
    enabled: Boolean = true,
) {
    val details = listOfNotNull(
        device.model?.takeIf { it.isNotBlank() }?.let(::shownName),
        if (device.online) device.address else stringResource(R.string.device_not_around),
    ).joinToString(" · ")
    ListItem(
        modifier = modifier
            .clickable(enabled = enabled, onClickLabel = stringResource(R.string.device_send_label), onClick = onClick)
            .alpha(if (device.online) 1f else OFFLINE_ALPHA),
        leadingContent = { Icon(device.kind.icon, contentDescription = stringResource(device.kind.label)) },
        headlineContent = {
            Row(verticalAlignment = Alignment.CenterVertically, horizontalArrangement = Arrangement.spacedBy(6.dp)) {
                Text(shownName(device.alias), maxLines = 1, overflow = TextOverflow.Ellipsis, modifier = Modifier.weight(1f, fill = false))
                if (device.verified) {
                    Icon(
                        Icons.Outlined.VerifiedUser,
                        contentDescription = stringResource(R.string.verified),
                        tint = MaterialTheme.colorScheme.primary,
                        modifier = Modifier.size(16.dp),
                    )
                }
            }
        },
        supportingContent = if (details.isEmpty()) null else {
            { Text(details, maxLines = 1, overflow = TextOverflow.Ellipsis) }
        },
        trailingContent = if (onFavoriteChange == null) null else {
            {
                IconToggleButton(checked = device.favorite, onCheckedChange = onFavoriteChange) {
                    Icon(
                        if (device.favorite) Icons.Filled.Star else Icons.Outlined.StarBorder,
                        contentDescription = stringResource(if (device.favorite) R.string.favorite_remove else R.string.favorite_add),
                    )
                }
            }
        },
    )
}

private const val OFFLINE_ALPHA = 0.5f

val DeviceKind.icon: ImageVector
    get() = when (this) {
        DeviceKind.MOBILE -> Icons.Outlined.Smartphone
        DeviceKind.DESKTOP -> Icons.Outlined.Computer
        DeviceKind.WEB -> Icons.Outlined.Language
        DeviceKind.HEADLESS -> Icons.Outlined.Terminal
        DeviceKind.SERVER -> Icons.Outlined.Dns
    }

@get:StringRes
val DeviceKind.label: Int
    get() = when (this) {
        DeviceKind.MOBILE -> R.string.kind_mobile
        DeviceKind.DESKTOP -> R.string.kind_desktop
        DeviceKind.WEB -> R.string.kind_web
        DeviceKind.HEADLESS -> R.string.kind_headless
        DeviceKind.SERVER -> R.string.kind_server
    }

/**
 * Holds discovery (the multicast lock, periodic scans) while the screen showing devices is
 * started and [enabled]: released when the app goes to the background or the list leaves.
 */
@Composable
fun DiscoveryWhileVisible(enabled: Boolean, hold: () -> AutoCloseable) {
    val currentHold = rememberUpdatedState(hold)
    LifecycleStartEffect(enabled) {
        val handle = if (enabled) currentHold.value() else null
        onStopOrDispose { handle?.close() }
    }
}
