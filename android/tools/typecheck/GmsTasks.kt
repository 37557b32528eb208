// See GmsCodeScanner.kt: the Play services Task API, as much as the app uses.
@file:Suppress("unused", "UNUSED_PARAMETER")

package com.google.android.gms.tasks

fun interface OnSuccessListener<T> {
    fun onSuccess(result: T)
}

fun interface OnFailureListener {
    fun onFailure(e: Exception)
}

fun interface OnCanceledListener {
    fun onCanceled()
}

abstract class Task<T> {
    abstract fun addOnSuccessListener(listener: OnSuccessListener<in T>): Task<T>
    abstract fun addOnFailureListener(listener: OnFailureListener): Task<T>
    abstract fun addOnCanceledListener(listener: OnCanceledListener): Task<T>
}
