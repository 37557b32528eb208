package app.ferry.logic

import app.ferry.logic.KeepAlive.ServiceType.DATA_SYNC
import app.ferry.logic.KeepAlive.ServiceType.SPECIAL_USE
import app.ferry.logic.KeepAlive.WifiLockMode.FULL_HIGH_PERF
import app.ferry.logic.KeepAlive.WifiLockMode.FULL_LOW_LATENCY
import app.ferry.logic.PermissionPolicy.Permission
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNull
import kotlin.test.assertTrue
import org.junit.Test

class KeepAliveTest {
    private fun transfer(id: String, direction: Direction, state: TransferState) =
        Transfer(id, direction, "Peer", null, listOf("a"), 0, 10, 0, 0, state, startedAtMs = 0)

    private fun plan(sdk: Int, receive: Boolean, vararg t: Transfer, canListen: Boolean = true, exhausted: Boolean = false) =
        KeepAlive.plan(KeepAlive.Input(sdk, receive, canListen, t.toList(), exhausted))

    @Test
    fun aSendStartedWithReceivingOffHoldsADataSyncServiceAndTheLocksWhileBytesMove() {
        for (sdk in listOf(26, 29, 33, 34, 35, 37)) {
            val waiting = plan(sdk, false, transfer("s", Direction.SEND, TransferState.WAITING))
            assertEquals(setOf(DATA_SYNC), waiting.types, "sdk $sdk")
            assertFalse(waiting.listening)
            assertFalse(waiting.wakeLock, "no wake lock while waiting for an answer (sdk $sdk)")
            assertNull(waiting.wifiLock)

            val moving = plan(sdk, false, transfer("s", Direction.SEND, TransferState.RUNNING))
            assertEquals(setOf(DATA_SYNC), moving.types)
            assertTrue(moving.wakeLock)
            assertEquals(if (sdk >= 34) FULL_LOW_LATENCY else FULL_HIGH_PERF, moving.wifiLock, "sdk $sdk")
        }
    }

    @Test
    fun finishedTransfersHoldNothing() {
        val done = plan(35, false, transfer("s", Direction.SEND, TransferState.DONE),
            transfer("r", Direction.RECEIVE, TransferState.FAILED))
        assertFalse(done.service)
        assertFalse(done.wakeLock)
        assertNull(done.wifiLock)
    }

    @Test
    fun idleListeningIsNotDataSyncFromAndroid14() {
        assertEquals(setOf(DATA_SYNC), plan(26, true).types, "before Android 14 there is no special use type (and no daily limit)")
        assertEquals(setOf(DATA_SYNC), plan(33, true).types)
        for (sdk in listOf(34, 35, 36, 37)) {
            val idle = plan(sdk, true)
            assertEquals(setOf(SPECIAL_USE), idle.types, "sdk $sdk")
            assertTrue(idle.listening)
            assertFalse(idle.wakeLock, "an idle listener holds no locks")
            assertNull(idle.wifiLock)
            val receiving = plan(sdk, true, transfer("r", Direction.RECEIVE, TransferState.RUNNING))
            assertEquals(setOf(DATA_SYNC, SPECIAL_USE), receiving.types, "a receive is data sync work (sdk $sdk)")
            assertTrue(receiving.wakeLock)
        }
    }

    @Test
    fun withoutTheNetworkPermissionNothingListens() {
        assertFalse(plan(37, true, canListen = false).service)
        assertEquals(setOf(DATA_SYNC), plan(37, true, transfer("s", Direction.SEND, TransferState.RUNNING), canListen = false).types)
    }

    @Test
    fun theDailyDataSyncLimitStopsOnlyDataSync() {
        // Android 15: after onTimeout, data sync cannot run until the app is opened; listening goes on as special use.
        val r = transfer("r", Direction.RECEIVE, TransferState.RUNNING)
        assertEquals(setOf(SPECIAL_USE), plan(35, true, r, exhausted = true).types)
        assertFalse(plan(35, false, r, exhausted = true).service)
        // Before Android 15 there is no such limit.
        assertEquals(setOf(DATA_SYNC), plan(33, true, r, exhausted = true).types)
    }

    @Test
    fun aRequestShowsInOnePlace() {
        assertEquals(RequestPrompt.SHEET, RequestPrompt.of(appOnScreen = true, canNotify = true), "on screen: the sheet, no notification")
        assertEquals(RequestPrompt.SHEET, RequestPrompt.of(appOnScreen = true, canNotify = false))
        assertEquals(RequestPrompt.NOTIFICATION, RequestPrompt.of(appOnScreen = false, canNotify = true))
        assertEquals(RequestPrompt.UNSEEN, RequestPrompt.of(appOnScreen = false, canNotify = false))
        assertTrue(RequestPrompt.unseenWhenInBackground(receiveInBackground = true, canNotify = false))
        assertFalse(RequestPrompt.unseenWhenInBackground(receiveInBackground = true, canNotify = true))
        assertFalse(RequestPrompt.unseenWhenInBackground(receiveInBackground = false, canNotify = false))
    }

    @Test
    fun permissionsByAndroidVersion() {
        fun net(sdk: Int) = PermissionPolicy.applicable(sdk, PermissionPolicy.network)
        assertEquals(emptyList(), net(26))
        assertEquals(emptyList(), net(33), "Ferry uses no Wi-Fi API that NEARBY_WIFI_DEVICES guards below Android 16")
        assertEquals(listOf(Permission.NEARBY_WIFI_DEVICES), net(36), "Android 16's local network protection keys on it")
        assertEquals(listOf(Permission.ACCESS_LOCAL_NETWORK), net(37))
        assertEquals(listOf(Permission.WRITE_EXTERNAL_STORAGE), PermissionPolicy.applicable(28, PermissionPolicy.receiving))
        assertEquals(listOf(Permission.POST_NOTIFICATIONS), PermissionPolicy.applicable(33, PermissionPolicy.receiving))
    }
}
