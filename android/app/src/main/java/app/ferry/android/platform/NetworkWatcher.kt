package app.ferry.android.platform

import android.content.Context
import android.net.ConnectivityManager
import android.net.LinkProperties
import android.net.Network
import android.net.NetworkCapabilities
import android.net.NetworkRequest
import android.os.Handler
import android.os.Looper

/**
 * Tells [onChanged] when the local networks change: a Wi-Fi or Ethernet network came or went,
 * or its addresses changed. Networks without internet count (a router with no uplink is still a
 * network to share on). Changes are debounced, and the first state seen after [start] is the
 * baseline, not a change.
 */
class NetworkWatcher(context: Context, private val onChanged: () -> Unit) {
    private val connectivity = context.applicationContext.getSystemService(ConnectivityManager::class.java)
    private val handler = Handler(Looper.getMainLooper())

    // Only touched on the main thread (the callback runs on [handler]).
    private val addresses = HashMap<Network, Set<String>>()
    private var baseline: Map<Network, Set<String>>? = null

    private val settle = Runnable {
        val now = addresses.toMap()
        val before = baseline
        baseline = now
        if (before != null && before != now) onChanged()
    }

    private val callback = object : ConnectivityManager.NetworkCallback() {
        override fun onAvailable(network: Network) {
            if (network !in addresses) addresses[network] = emptySet()
            schedule()
        }

        override fun onLinkPropertiesChanged(network: Network, linkProperties: LinkProperties) {
            addresses[network] = linkProperties.linkAddresses.mapTo(HashSet()) { it.address.hostAddress.orEmpty() }
            schedule()
        }

        override fun onLost(network: Network) {
            addresses.remove(network)
            schedule()
        }
    }

    fun start() {
        val cm = connectivity ?: return
        val request = NetworkRequest.Builder()
            .addTransportType(NetworkCapabilities.TRANSPORT_WIFI)
            .addTransportType(NetworkCapabilities.TRANSPORT_ETHERNET)
            .removeCapability(NetworkCapabilities.NET_CAPABILITY_INTERNET)
            .build()
        cm.registerNetworkCallback(request, callback, handler)
        schedule()
    }

    fun stop() {
        handler.removeCallbacks(settle)
        runCatching { connectivity?.unregisterNetworkCallback(callback) }
    }

    private fun schedule() {
        handler.removeCallbacks(settle)
        handler.postDelayed(settle, DEBOUNCE_MS)
    }

    private companion object {
        const val DEBOUNCE_MS = 1_500L
    }
}
