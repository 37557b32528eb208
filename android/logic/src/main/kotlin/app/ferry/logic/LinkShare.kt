package app.ferry.logic

import app.ferry.core.BrowserRequest
import app.ferry.core.ShareInfo
import app.ferry.core.ShareUpdate

/** A browser that asks to see the share, waiting for the owner's answer. */
data class BrowserAsk(
    val id: String,
    val address: String,
    /** The browser's own description (User-Agent), made safe to show ([shownName]) and cut to [LinkShareState.MAX_AGENT]. */
    val userAgent: String,
    val atMs: Long,
)

/** A browser's download of one shared file (or a folder's zip). */
data class ShareDownload(
    val address: String,
    val fileId: String,
    /** Shown safe. */
    val name: String,
    /** Bytes this download sent (from [offset]: a resumed download asks for the rest). */
    val sent: Long,
    /** What this download sends; 0 while unknown (a folder's zip). */
    val size: Long,
    /** Where in the file it started. */
    val offset: Long = 0,
    val finished: Boolean = false,
    val complete: Boolean = false,
)

/** An open share via link: what it offers, where browsers open it, who asks and what they download. */
data class LinkShareState(
    /** `http(s)://ADDRESS:PORT/`, one per address of this device. */
    val links: List<String>,
    /** Offered names (a folder's files as `folder/sub/name`), shown safe. */
    val files: List<String>,
    val folders: List<String>,
    val totalBytes: Long,
    /** The first link as a QR code, or null when there is no link (no network). */
    val qr: QrImage?,
    /** Browsers waiting for an answer, oldest first (at most [MAX_ASKING]). */
    val asking: List<BrowserAsk> = emptyList(),
    /** Addresses let in (at most [MAX_APPROVED]). */
    val approved: List<String> = emptyList(),
    /** Downloads, newest last (at most [MAX_DOWNLOADS]). */
    val downloads: List<ShareDownload> = emptyList(),
    /** Wrong PINs browsers gave. */
    val wrongPins: Int = 0,
) {
    /** The state after [update]: downloads tracked, answered browsers' asks dropped. Bounded. */
    fun after(update: ShareUpdate): LinkShareState = when (update) {
        is ShareUpdate.BrowserApproved -> copy(
            asking = asking.filter { it.address != update.address },
            approved = (approved - update.address + update.address).takeLast(MAX_APPROVED),
        )
        is ShareUpdate.BrowserDeclined -> copy(asking = asking.filter { it.address != update.address })
        is ShareUpdate.DownloadStarted -> copy(
            downloads = (downloads.filter { !(it.address == update.address && it.fileId == update.fileId) } +
                ShareDownload(update.address, update.fileId, shownName(update.name), 0, update.size.toLong(), offset = update.offset.toLong()))
                .takeLast(MAX_DOWNLOADS),
        )
        is ShareUpdate.DownloadProgress -> copy(
            downloads = downloads.map {
                if (it.address == update.address && it.fileId == update.fileId && !it.finished) it.copy(sent = it.sent.coerceAtLeast(update.sent.toLong())) else it
            },
        )
        is ShareUpdate.DownloadFinished -> copy(
            downloads = downloads.map {
                if (it.address == update.address && it.fileId == update.fileId && !it.finished) {
                    it.copy(finished = true, complete = update.complete, sent = it.sent.coerceAtLeast(update.sent.toLong()))
                } else {
                    it
                }
            },
        )
        is ShareUpdate.PinFailed -> copy(wrongPins = wrongPins + 1)
    }

    /** The state with [request] waiting (a newer ask from the same address replaces the older). */
    fun asked(request: BrowserRequest, atMs: Long): LinkShareState {
        val ask = BrowserAsk(request.id, request.address, shownName(request.userAgent.take(MAX_AGENT)), atMs)
        return copy(asking = (asking.filter { it.address != request.address } + ask).takeLast(MAX_ASKING))
    }

    /** The state once [id] was answered. */
    fun answered(id: String): LinkShareState = copy(asking = asking.filter { it.id != id })

    companion object {
        const val MAX_ASKING = 16
        const val MAX_APPROVED = 64
        const val MAX_DOWNLOADS = 50
        /** Longest User-Agent shown (characters, before escaping). */
        const val MAX_AGENT = 200

        /** A share just opened. */
        fun of(info: ShareInfo): LinkShareState = LinkShareState(
            links = info.links,
            files = info.files.map(::shownName),
            folders = info.folders.map(::shownName),
            totalBytes = info.totalBytes.toLong(),
            qr = info.links.firstOrNull()?.let { QrImage.of(it) },
        )
    }
}
