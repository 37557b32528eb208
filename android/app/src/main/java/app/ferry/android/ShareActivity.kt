package app.ferry.android

import android.content.Intent
import android.net.Uri
import android.os.Bundle
import android.widget.Toast
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.enableEdgeToEdge
import androidx.activity.viewModels
import androidx.core.content.IntentCompat
import app.ferry.android.ui.ShareScreen
import app.ferry.android.ui.ShareViewModel
import app.ferry.android.ui.theme.FerryTheme

/**
 * "Share" from any app: files (ACTION_SEND / ACTION_SEND_MULTIPLE with EXTRA_STREAM) or text
 * (EXTRA_TEXT, with EXTRA_SUBJECT). A sheet over the sharing app picks the device and shows
 * the send, which goes on in the app's process when the sheet is hidden.
 */
class ShareActivity : ComponentActivity() {
    private val viewModel: ShareViewModel by viewModels()

    override fun onCreate(savedInstanceState: Bundle?) {
        enableEdgeToEdge()
        super.onCreate(savedInstanceState)
        if (!viewModel.hasContent) {
            val outgoing = outgoingOf(intent)
            if (outgoing == null) {
                Toast.makeText(this, R.string.share_nothing, Toast.LENGTH_SHORT).show()
                finish()
                return
            }
            viewModel.load(outgoing)
        }
        (application as FerryApp).keepNodeWhileStarted(this)
        setContent {
            FerryTheme {
                ShareScreen(viewModel, onClose = ::finish)
            }
        }
    }

    private fun outgoingOf(intent: Intent): Outgoing? {
        val streams = when (intent.action) {
            Intent.ACTION_SEND -> listOfNotNull(IntentCompat.getParcelableExtra(intent, Intent.EXTRA_STREAM, Uri::class.java))
            Intent.ACTION_SEND_MULTIPLE -> IntentCompat.getParcelableArrayListExtra(intent, Intent.EXTRA_STREAM, Uri::class.java).orEmpty()
            else -> emptyList()
        }
        // Some apps put the documents only in the ClipData (which also carries the read grant).
        val uris = streams.ifEmpty {
            intent.clipData?.let { clip -> (0 until clip.itemCount).mapNotNull { clip.getItemAt(it).uri } }.orEmpty()
        }
        if (uris.isNotEmpty()) return Outgoing.Files(uris.distinct())

        val text = intent.getCharSequenceExtra(Intent.EXTRA_TEXT)?.toString()
        val subject = intent.getStringExtra(Intent.EXTRA_SUBJECT)
        val message = when {
            text.isNullOrBlank() -> subject
            subject.isNullOrBlank() || text.contains(subject) -> text
            else -> "$subject\n$text"
        }
        return message?.takeIf { it.isNotBlank() }?.let { Outgoing.Text(it) }
    }
}
