package app.ferry.android

import android.content.Context
import android.content.Intent
import android.os.Bundle
import android.widget.Toast
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.enableEdgeToEdge
import androidx.activity.viewModels
import app.ferry.android.platform.ReceivedFiles
import app.ferry.android.ui.MainScreen
import app.ferry.android.ui.MainViewModel
import app.ferry.android.ui.Tab
import app.ferry.android.ui.theme.FerryTheme
import app.ferry.logic.PairingSource

/**
 * The app's screen. Notifications open it on a request (its sheet), on the history, or to open
 * a file that arrived.
 */
class MainActivity : ComponentActivity() {
    private val viewModel: MainViewModel by viewModels()

    override fun onCreate(savedInstanceState: Bundle?) {
        enableEdgeToEdge()
        super.onCreate(savedInstanceState)
        (application as FerryApp).keepNodeWhileStarted(this)
        if (savedInstanceState == null) handle(intent)
        addOnNewIntentListener { handle(it) }
        setContent {
            FerryTheme {
                MainScreen(viewModel)
            }
        }
    }

    private fun handle(intent: Intent) {
        // A pairing code opened as a link (ferry://pair?..., from the camera's QR recognition):
        // the pairing screen asks before anything is probed or trusted.
        if (intent.action == Intent.ACTION_VIEW) intent.dataString?.let { viewModel.pairing.offer(it, PairingSource.LINK) }
        intent.getStringExtra(EXTRA_REQUEST)?.let(viewModel::showRequest)
        intent.getStringExtra(EXTRA_TAB)?.let { name -> Tab.entries.firstOrNull { it.name == name }?.let(viewModel::selectTab) }
        intent.getStringExtra(EXTRA_OPEN)?.let { location ->
            viewModel.selectTab(Tab.HISTORY)
            if (!ReceivedFiles.open(this, location, intent.getStringExtra(EXTRA_OPEN_NAME))) {
                Toast.makeText(this, R.string.open_failed, Toast.LENGTH_SHORT).show()
            }
        }
    }

    companion object {
        private const val EXTRA_REQUEST = "app.ferry.android.extra.REQUEST"
        private const val EXTRA_TAB = "app.ferry.android.extra.TAB"
        private const val EXTRA_OPEN = "app.ferry.android.extra.OPEN"
        private const val EXTRA_OPEN_NAME = "app.ferry.android.extra.OPEN_NAME"

        /** Opens the app: on a request's sheet, a tab, or opening a received file ([open]: its location). */
        fun intent(
            context: Context,
            request: String? = null,
            tab: Tab? = null,
            open: String? = null,
            openName: String? = null,
        ): Intent = Intent(context, MainActivity::class.java)
            .addFlags(Intent.FLAG_ACTIVITY_CLEAR_TOP or Intent.FLAG_ACTIVITY_SINGLE_TOP)
            .apply {
                request?.let { putExtra(EXTRA_REQUEST, it) }
                tab?.let { putExtra(EXTRA_TAB, it.name) }
                open?.let { putExtra(EXTRA_OPEN, it) }
                openName?.let { putExtra(EXTRA_OPEN_NAME, it) }
            }
    }
}
