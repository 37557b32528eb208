package app.ferry.android.ui

import android.app.Activity
import android.content.Context
import android.content.Intent
import android.net.Uri
import android.provider.Settings as AndroidSettings
import androidx.activity.compose.LocalActivity
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.ActivityResultLauncher
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material.icons.Icons
import androidx.compose.material.icons.outlined.Wifi
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.Icon
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.SideEffect
import androidx.compose.runtime.Stable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import androidx.core.app.ActivityCompat
import androidx.lifecycle.Lifecycle
import androidx.lifecycle.compose.LifecycleEventEffect
import app.ferry.android.FerryPermission
import app.ferry.android.R

/**
 * Asks for runtime permissions the polite way: an explanation first, then the system prompt.
 * When the system will not ask any more (denied for good), the app's settings page opens.
 * State is read in composition ([missing], [granted]) and refreshed when the screen resumes.
 */
@Stable
class PermissionGate internal constructor(private val context: Context) {
    internal var launcher: ActivityResultLauncher<Array<String>>? = null
    internal var activity: Activity? = null

    internal class Pending(val permissions: List<FerryPermission>, val then: (missing: List<FerryPermission>) -> Unit)

    /** The explanation on screen, if any. */
    internal var rationale by mutableStateOf<Pending?>(null)
        private set
    private var inFlight: Pending? = null
    private var grantedNow by mutableStateOf(currentlyGranted())
    private val blocked = HashSet<FerryPermission>()

    private fun currentlyGranted(): Set<FerryPermission> = FerryPermission.entries.filter { it.granted(context) }.toSet()

    fun missing(permissions: List<FerryPermission>): List<FerryPermission> =
        permissions.filter { it.applies && it !in grantedNow }

    fun granted(permissions: List<FerryPermission>): Boolean = missing(permissions).isEmpty()

    /**
     * Makes sure [permissions] are granted, asking for those that are not; [then] hears which are
     * still missing (empty: all granted). Callers decide what works without them.
     */
    fun request(permissions: List<FerryPermission>, then: (missing: List<FerryPermission>) -> Unit = {}) {
        val missing = missing(permissions)
        when {
            missing.isEmpty() -> then(emptyList())
            missing.all { it in blocked } -> {
                openAppSettings()
                then(missing)
            }
            else -> rationale = Pending(missing, then)
        }
    }

    internal fun proceed() {
        val p = rationale ?: return
        rationale = null
        val l = launcher
        if (l == null) {
            p.then(missing(p.permissions))
            return
        }
        inFlight = p
        l.launch(p.permissions.map { it.permission }.toTypedArray())
    }

    internal fun decline() {
        val p = rationale ?: return
        rationale = null
        p.then(missing(p.permissions))
    }

    internal fun onResult() {
        refresh()
        val p = inFlight ?: return
        inFlight = null
        val missing = missing(p.permissions)
        // Denied and no rationale to show: the system will not ask again.
        activity?.let { a -> missing.filterTo(blocked) { !ActivityCompat.shouldShowRequestPermissionRationale(a, it.permission) } }
        p.then(missing)
    }

    /** Re-reads what is granted (the user may have changed it in the system settings). */
    fun refresh() {
        grantedNow = currentlyGranted()
        blocked.removeAll(grantedNow)
    }

    fun openAppSettings() {
        val intent = Intent(AndroidSettings.ACTION_APPLICATION_DETAILS_SETTINGS, Uri.fromParts("package", context.packageName, null))
        val from = activity
        if (from != null) from.startActivity(intent) else context.startActivity(intent.addFlags(Intent.FLAG_ACTIVITY_NEW_TASK))
    }
}

@Composable
fun rememberPermissionGate(): PermissionGate {
    val context = LocalContext.current
    val activity = LocalActivity.current
    val gate = remember { PermissionGate(context.applicationContext) }
    val launcher = rememberLauncherForActivityResult(ActivityResultContracts.RequestMultiplePermissions()) { gate.onResult() }
    SideEffect {
        gate.launcher = launcher
        gate.activity = activity
    }
    LifecycleEventEffect(Lifecycle.Event.ON_RESUME) { gate.refresh() }
    return gate
}

/** The explanation shown before the system asks. Place once per screen that uses [gate]. */
@Composable
fun PermissionDialogs(gate: PermissionGate) {
    val pending = gate.rationale ?: return
    AlertDialog(
        onDismissRequest = gate::decline,
        icon = { Icon(Icons.Outlined.Wifi, contentDescription = null) },
        title = { Text(stringResource(R.string.permission_title)) },
        text = {
            Column(Modifier.verticalScroll(rememberScrollState()), verticalArrangement = Arrangement.spacedBy(12.dp)) {
                pending.permissions.forEach { p ->
                    Column(verticalArrangement = Arrangement.spacedBy(4.dp)) {
                        Text(stringResource(p.title), style = MaterialTheme.typography.titleSmall)
                        Text(stringResource(p.rationale), style = MaterialTheme.typography.bodyMedium)
                    }
                }
            }
        },
        confirmButton = { TextButton(onClick = gate::proceed) { Text(stringResource(R.string.permission_continue)) } },
        dismissButton = { TextButton(onClick = gate::decline) { Text(stringResource(R.string.not_now)) } },
    )
}
